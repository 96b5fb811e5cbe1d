"""One command grammar: ``duse NAME [--config F] [--set K=V] [flags]`` == ``python -m jobs.NAME``.

Every user error is one line on stderr, exit status 2, with nothing written.
"""

import json
import subprocess
import sys

import pytest
import yaml

import jobs.benchmark
import jobs.expand
import jobs.generate
import jobs.zsl
from engine.cli import main

JOBS = {"expand": jobs.expand, "benchmark": jobs.benchmark, "zsl": jobs.zsl}


def _yaml(tmp_path, body, name="config.yaml"):
    path = tmp_path / name
    path.write_text(body if isinstance(body, str) else yaml.safe_dump(body))
    return str(path)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("duse: error: "), err
    return err.removeprefix("duse: error: ").strip()


EXPAND_CASES = [
    # (file body, extra argv, the error's start)
    ({"train": {"epochs": 2.5}}, [], "train.epochs: "),
    ({"rate": True}, [], "rate: "),
    ({"train": {"use_gpu": "no"}}, [], "train.use_gpu: "),
    ({"count": 10.5}, [], "count: "),
    ({"rate": "abc"}, [], "rate: "),
    ({"count": "10"}, [], "count: "),
    ({"train": {"epochs": "ten"}}, [], "train.epochs: "),
    ({}, ["--rate", "abc"], "rate: "),
    ({}, ["--rounds", "1.5"], "rounds: "),
    ({}, ["--set", "train.epochs=ten"], "train.epochs: "),
    ({}, ["--set", "bogus=1"], "bogus: "),
    ({}, ["--set", "train.bogus=1"], "train.bogus: "),
]


@pytest.mark.parametrize(("body", "argv", "start"), EXPAND_CASES)
@pytest.mark.parametrize("entry", ["duse", "job"])
def test_a_bad_expand_value_is_one_line_naming_its_key_exit_2_nothing_written(
    tmp_path, capsys, body, argv, start, entry
):
    out = tmp_path / "run"
    values = {"data": str(tmp_path / "ds"), "out": str(out), **body}
    args = ["--config", _yaml(tmp_path, values), *argv]
    status = main(["expand", *args]) if entry == "duse" else jobs.expand.main(args)
    assert status == 2
    assert _one_line_error(capsys).startswith(start)
    assert not out.exists()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("rounds: [1,\n  out: x\n", ["config.yaml", "line"]),
        ("- 1\n- 2\n", ["config.yaml", "mapping"]),
    ],
)
@pytest.mark.parametrize("command", ["expand", "benchmark", "zsl"])
def test_a_broken_yaml_file_is_one_line_naming_the_file(tmp_path, capsys, body, words, command):
    assert main([command, "--config", _yaml(tmp_path, body)]) == 2
    error = _one_line_error(capsys)
    assert all(word in error for word in words), error


@pytest.mark.parametrize("command", ["expand", "benchmark", "zsl"])
def test_a_missing_config_file_is_exit_2(tmp_path, capsys, command):
    assert main([command, "--config", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml" in _one_line_error(capsys)


def test_lr_written_1e_3_in_yaml_is_a_float(tmp_path):
    from engine.config import load_config
    from engine.expansion import ExpandConfig

    path = _yaml(tmp_path, "data: d\nout: o\ntrain:\n  lr: 1e-3\n")
    assert load_config(ExpandConfig, path).train.lr == pytest.approx(0.001)


@pytest.mark.parametrize("name", sorted(JOBS))
def test_the_job_takes_exactly_what_the_command_takes(tmp_path, capsys, name):
    """The same argv (flags, --set, no --config) gives the same status and message."""
    argv = ["--out", str(tmp_path / "x"), "--set", "seed=abc"]
    assert main([name, *argv]) == 2
    by_command = capsys.readouterr().err
    assert JOBS[name].main(argv) == 2
    assert capsys.readouterr().err == by_command and "seed: " in by_command


def test_expand_flags_and_nested_shortcuts_build_the_config(tmp_path):
    from engine.cli import _expand_values, _parser
    from engine.config import load_config
    from engine.expansion import ExpandConfig

    config_file = _yaml(tmp_path, {"data": "d", "out": "o", "train": {"epochs": 3}})
    argv = ["expand", "--config", config_file, "--rounds", "2", "--count", "40"]
    argv += ["--executor", "local", "--workers", "2", "--no-balanced", "--set", "train.lr=1e-2"]
    argv += ["--pool-snr-min", "-4", "--scorer", "margin"]
    args = _parser().parse_args(argv)
    from engine._internal.cli_config import config_from_args

    config = config_from_args(ExpandConfig, args, **_expand_values(args))
    assert (config.rounds, config.count, config.rate, config.scorer) == (2, 40, None, "margin")
    assert config.train.epochs == 3 and config.train.workers == 2
    assert config.train.lr == pytest.approx(0.01) and config.pool_snr_min_db == -4.0
    assert config.scoring.executor == "local" and config.balanced is False
    assert load_config(ExpandConfig, config_file).rounds == 5  # the file is not changed


def test_help_shows_defaults_help_text_models_and_scorers(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["expand", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "--rounds INT" in text and "(default: 5)" in text
    assert "--set KEY=VALUE" in text and "--balanced, --no-balanced" in text
    assert "registered models: " in text and "cnn1d" in text
    assert "registered scorers: " in text and "margin" in text


def test_config_schema_prints_json_schema_with_descriptions(capsys):
    assert main(["config", "schema", "expand"]) == 0
    schema = json.loads(capsys.readouterr().out)
    rounds = schema["properties"]["rounds"]
    assert rounds["default"] == 5 and rounds["description"]


def test_submit_passes_expand_flags_without_a_config_file():
    from engine.cluster import job_entrypoint

    command = job_entrypoint("expand", ["--data", "d", "--out", "o", "--rounds", "2"])
    assert command == "python -m jobs.expand --data d --out o --rounds 2"


def test_python_m_jobs_is_the_cli(tmp_path):
    """The job module run as a script: the CLI's parser (--help) and exit status 2."""
    run = subprocess.run(
        [sys.executable, "-m", "jobs.generate", "--profile", "rml2016a", "--set", "scale=x"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "scale: " in run.stderr


@pytest.mark.parametrize("body", [b"hello\n", None])
def test_a_file_that_is_not_weights_is_one_line_exit_2(tmp_path, capsys, body):
    import torch

    weights = tmp_path / "w.pt"
    if body is None:
        torch.save({"a": 1}, weights)
    else:
        weights.write_bytes(body)
    assert main(["evaluate", "--data", str(tmp_path), "--weights", str(weights)]) == 2
    assert "not model weights written by duse" in _one_line_error(capsys)
