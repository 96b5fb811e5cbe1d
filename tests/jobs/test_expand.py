import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from engine.data.generate import generate
from engine.data.splits import Split
from jobs.expand import main

CONFIGS = Path(__file__).resolve().parents[2] / "jobs" / "configs"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """880 rml2016a frames (80 per class) in 4 shards."""
    uri = str(tmp_path_factory.mktemp("jobs-expand") / "ds")
    generate("rml2016a", uri, scale=0.004, seed=0, executor="local", shard_bytes=2**18)
    return uri


def test_expand_job_writes_the_run_directory_of_its_config(dataset, tmp_path, capsys):
    config = {
        "data": dataset,
        "out": str(tmp_path / "from-config"),
        "model": "cnn1d",
        "rounds": 2,
        "count": 22,
        "balanced": True,
        "split": {"test": 0.2, "target": 0.1},
        "train": {"epochs": 1, "batch_size": 64},
        "evaluate": False,
        "scoring": {"executor": "local", "batch_size": 128},
    }
    path = tmp_path / "expand.yaml"
    path.write_text(yaml.safe_dump(config))
    out = f"file://{tmp_path}/run"
    assert main(["--config", str(path), "--out", out, "--set", "seed=3"]) == 0
    assert f"selected 22 samples in 2 round(s); target 88 -> {out}" in capsys.readouterr().out
    run = tmp_path / "run"
    assert not (tmp_path / "from-config").exists()  # --out won over the config's out
    manifest = pq.read_table(run / "manifest.parquet").to_pydict()
    split = Split.load(str(run / "splits.json"))
    assert manifest["round"] == [1] * 11 + [2] * 11
    assert len(set(manifest["id"])) == 22 and np.isin(manifest["id"], split.pool_ids).all()
    for round_index in (1, 2):
        labels = [
            lab
            for lab, r in zip(manifest["label"], manifest["round"], strict=True)
            if r == round_index
        ]
        assert sorted(labels) == list(range(11))  # balanced: one per class per round
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["seed"] == 3 and stored["out"] == out
    assert json.loads((run / "metrics.json").read_text())["complete"] is True


def test_expand_job_reports_a_bad_config_and_exits_2(dataset, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"data": dataset, "out": str(tmp_path / "x"), "bogus": 1}))
    assert main(["--config", str(path)]) == 2
    assert "unknown expand config keys ['bogus']" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", ["expand_example.yaml", "expand_cluster.yaml"])
def test_shipped_expand_configs_are_valid(name):
    from engine.config import load_config
    from engine.expansion import ExpandConfig

    config = load_config(ExpandConfig, str(CONFIGS / name))
    assert config.scorer == "duse" and config.rounds == 5
    if name == "expand_cluster.yaml":  # sized for GPUs: one per training worker and actor
        assert config.train.workers == 2 and config.train.use_gpu
        assert config.scoring.actors == 2 and config.scoring.gpus_per_actor == 1
