import json

import fsspec
import pytest
import torch
import yaml

from engine.data.generate import generate
from jobs.zsl import main


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_zsl_job_runs_a_group_and_uploads_to_a_remote_uri(tmp_path, capsys):
    data = str(tmp_path / "ds")
    generate("sigzsl7", data, scale=0.01, seed=0, executor="local")
    config = {
        "data": data,
        "out": str(tmp_path / "unused"),
        "groups": [1],
        "figures": False,
        "cnn": {"epochs": 1, "batch_size": 64},
        "semantic": {"epochs": 1, "batch_size": 64},
        "gan": {"epochs": 1, "batch_size": 16, "critic_steps": 1, "workers": 0},
        "classifier": {"epochs": 1, "synthetic_per_class": 10},
    }
    path = tmp_path / "zsl.yaml"
    path.write_text(yaml.safe_dump(config))
    out = "memory://jobs-zsl/run"
    assert main(["--config", str(path), "--out", out]) == 0
    assert f"results in {out}/summary.md" in capsys.readouterr().out
    fs = fsspec.filesystem("memory")
    results = json.loads(fs.cat("/jobs-zsl/run/group1/seed0/results.json"))
    ours = results["sigzslnet"]
    for key in ("seen_accuracy", "unseen_accuracy", "harmonic_mean", "accuracy"):
        assert 0.0 <= ours[key] <= 1.0
    assert b"group1" in fs.cat("/jobs-zsl/run/summary.md")
    assert not (tmp_path / "unused").exists()


def test_zsl_job_reports_a_bad_config_and_exits_2(tmp_path, capsys):
    path = tmp_path / "zsl.yaml"
    path.write_text(yaml.safe_dump({"data": "d", "out": str(tmp_path), "gan": {"lr_x": 1}}))
    assert main(["--config", str(path)]) == 2
    assert "lr_x" in capsys.readouterr().err
