import argparse

import fsspec
import pytest
import yaml

from jobs._internal import is_local, load_values, parse_arguments, run_job, staged_output


def _args(tmp_path, values, *argv):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(values))
    return parse_arguments("expand", None, ["--config", str(path), *argv])


def test_overrides_apply_dotted_keys_as_yaml_values_and_out_last(tmp_path):
    args = _args(
        tmp_path,
        {"out": "a", "train": {"epochs": 3}},
        "--set",
        "train.workers=2",
        "--set",
        "scoring.gpus_per_actor=0.5",
        "--set",
        "out=ignored",
        "--out",
        "s3://bucket/run",
    )
    assert load_values(args) == {
        "out": "s3://bucket/run",
        "train": {"epochs": 3, "workers": 2},
        "scoring": {"gpus_per_actor": 0.5},
    }


@pytest.mark.parametrize(
    ("values", "override", "match"),
    [
        ({"out": "a"}, "novalue", "KEY=VALUE"),
        ({"out": "a"}, "out.x=1", "'out' is not a section"),
        ([1, 2], None, "is a mapping"),
    ],
)
def test_bad_configs_and_overrides_are_value_errors(tmp_path, values, override, match):
    args = _args(tmp_path, values, *(["--set", override] if override else []))
    with pytest.raises(ValueError, match=match):
        load_values(args)


def test_config_is_read_from_an_fsspec_uri():
    with fsspec.open("memory://jobs-test/cfg.yaml", "w") as handle:
        handle.write("out: memory://x\nrounds: 2\n")
    args = parse_arguments("expand", None, ["--config", "memory://jobs-test/cfg.yaml"])
    assert load_values(args) == {"out": "memory://x", "rounds": 2}


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


def test_run_job_turns_config_errors_into_status_2(capsys):
    def bad() -> int:
        raise KeyError("unknown expand config keys ['bogus']")

    assert run_job(bad) == 2
    assert "job error: KeyError: unknown expand config keys ['bogus']" in capsys.readouterr().err
    assert run_job(lambda: 0) == 0
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        run_job(lambda: 1 // 0)


def test_parse_arguments_takes_extra_flags():
    args = parse_arguments(
        "zsl",
        None,
        ["--config", "c.yaml", "--tune"],
        lambda parser: parser.add_argument("--tune", action="store_true"),
    )
    assert isinstance(args, argparse.Namespace) and args.tune and args.config == "c.yaml"
