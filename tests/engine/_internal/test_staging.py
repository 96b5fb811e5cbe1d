import fsspec
import pytest

from engine._internal.staging import is_local, staged_output


def test_staged_output_uploads_to_a_remote_uri_only_after_success(tmp_path):
    assert is_local(str(tmp_path)) and is_local(f"file://{tmp_path}")
    assert not is_local("memory://bucket/run") and not is_local("s3://bucket/run")
    with staged_output(f"file://{tmp_path}/run") as local:
        assert local == f"{tmp_path}/run"
    with staged_output("memory://staged/ok") as local:
        (tmp_path / "probe").write_text("")  # the staging dir is not the remote one
        with open(f"{local}/a.json", "w") as handle:
            handle.write('{"x": 1}')
    fs = fsspec.filesystem("memory")
    assert fs.cat("/staged/ok/a.json") == b'{"x": 1}'
    with pytest.raises(RuntimeError), staged_output("memory://staged/failed") as local:
        open(f"{local}/b.json", "w").close()
        raise RuntimeError("job failed")
    assert not fs.exists("/staged/failed")
