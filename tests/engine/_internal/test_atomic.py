import os
import subprocess
import sys
import textwrap
import uuid

import fsspec
import pytest

from engine._internal import atomic
from engine._internal.atomic import (
    staging_name,
    text_writer,
    write_bytes,
    write_json,
    write_text,
)


def _names(directory) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("where", ["local", "memory"])
def test_write_creates_replaces_and_leaves_no_staging(tmp_path, where):
    base = str(tmp_path) if where == "local" else f"memory://atomic-{uuid.uuid4().hex}"
    uri = f"{base}/sub/dir/file.json"
    write_text(uri, "first")
    write_bytes(uri, b"second")
    with fsspec.open(uri, "rb") as handle:
        assert handle.read() == b"second"
    fs, path = fsspec.core.url_to_fs(uri)
    assert [os.path.basename(p) for p in fs.ls(os.path.dirname(path), detail=False)] == [
        "file.json"
    ]


def test_staging_name_is_a_hidden_sibling():
    name = staging_name("/a/b/splits.json")
    assert name.startswith("/a/b/.splits.json.partial-") and len(name) > len("/a/b/.splits.json")
    assert staging_name("/a/b/splits.json") != name


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_removes_the_staging(tmp_path, monkeypatch, error):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old and complete")

    def fail(*_args):
        raise error

    monkeypatch.setattr(atomic.os, "fsync", fail)
    with pytest.raises(type(error)):
        write_bytes(str(target), b"new" * 1000)
    assert target.read_bytes() == b"old and complete"
    assert _names(tmp_path) == ["model.pt"]


def test_a_failed_move_on_another_filesystem_removes_the_staging(monkeypatch):
    uri = f"memory://atomic-{uuid.uuid4().hex}/x.json"
    fs, path = fsspec.core.url_to_fs(uri)

    def fail(*_args, **_kwargs):
        raise OSError("mv failed")

    monkeypatch.setattr(type(fs), "mv", fail)
    with pytest.raises(OSError, match="mv failed"):
        write_text(uri, "body")
    assert fs.ls(os.path.dirname(path), detail=False) == []


FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, resource.RLIM_INFINITY))
    """
)


def run_under_file_size_limit(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter that may not write files beyond 16 KiB (``ulimit -f``)."""
    return subprocess.run(
        [sys.executable, "-c", FILE_SIZE_LIMIT + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))),
    )


def test_file_size_limit_leaves_no_half_file(tmp_path):
    target = tmp_path / "big.bin"
    result = run_under_file_size_limit(
        f"""
        from engine._internal.atomic import write_bytes
        try:
            write_bytes({str(target)!r}, b"x" * 100_000)
        except OSError as err:
            print("errno", err.errno)
        """
    )
    assert result.stdout.strip() == "errno 27", result.stderr  # EFBIG
    assert _names(tmp_path) == []


def test_a_dead_writers_staging_is_removed_and_a_live_ones_kept(tmp_path):
    import os
    import socket
    import subprocess

    import numpy as np

    from engine.data.schema import Frames
    from engine.data.store import DatasetWriter

    gone = subprocess.Popen(["true"])
    gone.wait()
    host = socket.gethostname()
    dead = tmp_path / f".ds.partial-{gone.pid}@{host}-abc123"
    live = tmp_path / f".ds.partial-{os.getpid()}@{host}-def456"
    elsewhere = tmp_path / f".ds.partial-{gone.pid}@another-host-0a0a0a"
    for staging in (dead, live, elsewhere):
        staging.mkdir()
        (staging / "part-00000.parquet").write_bytes(b"half")
    frames = Frames(
        np.arange(3), np.array([0, 1, 0]), np.zeros(3, np.float32), np.ones((3, 2, 8), np.float32)
    )
    with DatasetWriter(str(tmp_path / "ds"), ["a", "b"], 8, [0.0], {}) as writer:
        writer.write(frames)
    assert not dead.exists()  # its owner is gone: removed
    assert live.exists() and elsewhere.exists()  # a live owner's, or one this host cannot check
    assert (tmp_path / "ds" / "dataset.json").exists()


@pytest.mark.parametrize("where", ["local", "memory"])
def test_json_and_streamed_text_are_written_whole_or_not_at_all(tmp_path, where):
    import csv

    base = str(tmp_path) if where == "local" else f"memory://atomic-{uuid.uuid4().hex}"
    write_json(f"{base}/a/body.json", {"x": [1, 2]}, indent=1)
    with fsspec.open(f"{base}/a/body.json", "r") as handle:
        assert handle.read() == '{\n "x": [\n  1,\n  2\n ]\n}'
    with text_writer(f"{base}/rows.csv") as handle:
        csv.writer(handle).writerows([["a", "b"], [1, 2]])
    with fsspec.open(f"{base}/rows.csv", "rb") as handle:
        assert handle.read() == b"a,b\r\n1,2\r\n"  # csv's line endings, untranslated
    with pytest.raises(RuntimeError), text_writer(f"{base}/rows.csv") as handle:
        handle.write("half")
        raise RuntimeError("cut short")
    with fsspec.open(f"{base}/rows.csv", "rb") as handle:
        assert handle.read() == b"a,b\r\n1,2\r\n"
    fs, path = fsspec.core.url_to_fs(base)
    assert sorted(os.path.basename(p) for p in fs.ls(path, detail=False)) == ["a", "rows.csv"]
