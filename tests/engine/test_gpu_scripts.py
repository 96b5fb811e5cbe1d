"""benchmarks/gpu.sh and benchmarks/gpu_paper.sh: the GPU runs' scripts, tried on the CPU.

The slow tests run both scripts with TINY=1 (the same code paths, device cpu) into a temporary
results directory and check what they write; the others check the scripts' syntax, the GPU
config and the helpers the scripts rely on.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.benchmark import BenchmarkConfig
from engine.config import load_config

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("gpu.sh", "gpu_paper.sh", "gpu_env.sh")
GPU_CONFIG = ROOT / "jobs" / "configs" / "benchmark_gpu_paper.yaml"
TABLE_I_RATES = (0.01, 0.04, 0.07, 0.09, 0.19)


def _run_tiny(script: str, results: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RAY_ADDRESS", "OUT", "PYTHONPATH")
    }
    env.update(
        TINY="1",
        RESULTS_DIR=str(results),
        GPU_ENV_PY=sys.executable,
        RAY_USAGE_STATS_ENABLED="0",
    )
    result = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / script)],
        cwd=tmp_path,  # the scripts change to the repository themselves
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def _finite_positive(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse_and_are_strict(script):
    path = ROOT / "benchmarks" / script
    subprocess.run(["bash", "-n", str(path)], check=True)
    text = path.read_text()
    assert "set -euo pipefail" in text
    assert text.splitlines()[1].startswith("#") and "bash benchmarks/" in text


def test_gpu_paper_config_is_table_one_at_full_scale_on_the_gpu():
    config = load_config(BenchmarkConfig, str(GPU_CONFIG))
    assert config.generate.profile == "rml2016a" and config.generate.scale == 1.0
    assert config.rates == TABLE_I_RATES and not config.balanced
    assert config.model == "cnn2d" and config.eval_models == ("cnn2d",)
    names = [method.name for method in config.methods]
    assert {"margin", "entropy", "least_confidence", "deepfool", "forgetting", "grand"} <= set(
        names
    )
    assert {"duse", "random"} <= set(names)
    assert config.method("duse").rounds == 5
    assert config.train.use_gpu and config.eval_train.use_gpu
    assert config.scoring.gpus_per_actor >= 1 and config.scoring.executor == "local"
    assert config.tune.max_concurrent_trials and config.tune.cpus_per_trial == 1
    assert len(config.seeds) == 3


def test_gpu_paper_tiny_overrides_load():
    tiny = load_config(
        BenchmarkConfig,
        str(GPU_CONFIG),
        [
            "generate.scale=0.01",
            "split.target=0.1",
            "seeds=[0]",
            "methods=[margin, duse]",
            "rates=[0.04, 0.19]",
            "duse_rounds=2",
            "train.epochs=1",
            "eval_train.epochs=1",
            "train.use_gpu=false",
            "eval_train.use_gpu=false",
            "scoring.gpus_per_actor=0",
        ],
    )
    assert len(tiny.cells()) == 4 and not tiny.train.use_gpu


def test_free_disk_check_refuses_a_pool_that_does_not_fit(tmp_path):
    from benchmarks.scoring import check_free_disk, pool_bytes

    assert pool_bytes(1_000_000, 1024) == 1_000_000 * (8 * 1024 + 14)  # ~8 GiB
    check_free_disk(str(tmp_path), 10, 128)
    with pytest.raises(SystemExit, match="--workdir"):
        check_free_disk(str(tmp_path), 10**12, 1024)


@pytest.mark.slow
def test_parallel_pool_writing_gives_the_same_dataset(tmp_path):
    from benchmarks.scoring import write_pool
    from engine.data.store import read_meta

    write_pool(str(tmp_path / "one"), 5000, 1024, 24)
    write_pool(str(tmp_path / "two"), 5000, 1024, 24, workers=2)
    one, two = read_meta(str(tmp_path / "one")), read_meta(str(tmp_path / "two"))
    assert [s.sha256 for s in one.shards] == [s.sha256 for s in two.shards]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gpu_sh_tiny_writes_scoring_and_training_records(tmp_path):
    results = tmp_path / "results"
    run = _run_tiny("gpu.sh", results, tmp_path)
    scoring = json.loads((results / "gpu-scoring-tiny.json").read_text())
    training = json.loads((results / "gpu-training-tiny.json").read_text())
    for record in (scoring, training):
        assert record["command"] and record["machine"] and "gpu" in record
        assert len(record["load_average_at_start"]) == 3
    assert scoring["models"] == ["cnn1d", "cnn2d"] and scoring["device"] in ("cpu", "cuda")
    assert set(scoring["throughput"]) == {"cnn1d", "cnn2d"}
    for figures in scoring["throughput"].values():
        for key in ("ceiling", "plain_loop", "ray_data"):
            assert _finite_positive(figures[f"{key}_samples_per_s"])
        assert _finite_positive(figures["ray_vs_plain"])
        assert _finite_positive(figures["ray_vs_ceiling"])
    assert len(training["epoch"]) == 2
    for epoch in training["epoch"].values():
        assert _finite_positive(epoch["epoch_samples_per_s"])
        assert _finite_positive(epoch["resident_samples_per_s"])
        assert _finite_positive(epoch["epoch_vs_resident"])
    assert all(_finite_positive(rate) for rate in training["throughput"].values())
    assert "ray/plain" in run.stdout and "epoch/resident" in run.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gpu_paper_sh_tiny_writes_the_benchmark_report(tmp_path):
    results = tmp_path / "results"
    run = _run_tiny("gpu_paper.sh", results, tmp_path)
    out = results / "gpu-paper-tiny"
    for name in ("results.md", "results.csv", "config.yaml", "benchmark.yaml"):
        assert (out / name).is_file(), name
    report = json.loads((out / "results.json").read_text())
    assert report["failed"] == []
    cells = {(cell["method"], cell["rate"]): cell for cell in report["cells"]}
    assert set(cells) == {(m, r) for m in ("margin", "duse") for r in (0.04, 0.19)}
    for cell in cells.values():
        assert cell["n"] == 1 and 0 <= cell["mean"] <= 100 and math.isfinite(cell["mean"])
    record = json.loads((out / "run.json").read_text())
    assert record["complete"] and record["tiny"] and not record["deadline_hit"]
    assert record["cells_done"] == record["cells_planned"] == 4
    assert _finite_positive(record["wall_s"]) and "gpu" in record
    assert "--config jobs/configs/benchmark_gpu_paper.yaml" in record["command"]
    assert "4/4 cells" in run.stdout
