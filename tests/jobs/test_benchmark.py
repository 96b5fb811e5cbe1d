import json

import fsspec
import pytest
import yaml

from engine.data.generate import generate
from jobs.benchmark import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """880 rml2016a frames (80 per class)."""
    uri = str(tmp_path_factory.mktemp("jobs-bench") / "ds")
    generate("rml2016a", uri, scale=0.004, seed=0, executor="local", shard_bytes=2**18)
    return uri


def test_benchmark_job_runs_the_grid_and_uploads_the_report(ray_session, dataset, tmp_path, capsys):
    config = {
        "data": dataset,
        "out": str(tmp_path / "unused"),
        "methods": ["random"],
        "rates": [0.05],
        "seeds": [0],
        "model": "cnn1d",
        "eval_models": ["cnn1d"],
        "split": {"test": 0.2, "target": 0.1},
        "train": {"epochs": 1, "batch_size": 64},
        "eval_train": {"epochs": 1, "batch_size": 64},
        "scoring": {"executor": "local", "batch_size": 256},
        "tune": {"max_concurrent_trials": 1, "cpus_per_trial": 1},
    }
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    out = "memory://jobs-bench/run"
    assert main(["--config", str(path), "--out", out]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out}/results.md" in printed
    fs = fsspec.filesystem("memory")
    assert "random" in fs.cat("/jobs-bench/run/results.md").decode()
    cells = [path for path in fs.find("/jobs-bench/run") if path.endswith("cell.json")]
    assert len(cells) == 1
    cell = json.loads(fs.cat(cells[0]))
    assert cell["method"] == "random" and cell["rate"] == 0.05 and cell["seed"] == 0
    assert 0.0 <= cell["evaluations"]["cnn1d"]["accuracy"] <= 1.0
    assert not (tmp_path / "unused").exists()


def test_benchmark_job_reports_a_bad_config_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({"data": "d", "out": str(tmp_path / "o"), "colour": 1}))
    assert main(["--config", str(path)]) == 2
    assert "colour" in capsys.readouterr().err
