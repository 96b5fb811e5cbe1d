"""The benchmark grid through real Ray Tune on a tiny set: every cell in the table, means and
stds computed from the runs, figures written, resume without recomputation; bad input fails
before any trial starts."""

from __future__ import annotations

import csv
import json
import math
import os
import re

import numpy as np
import pytest
import yaml

from engine.benchmark import BenchmarkConfig, run_benchmark
from engine.benchmark.report import paper_value
from engine.cli import main
from engine.data import generate

RATES = (0.05, 0.1)
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """880 rml2016a frames (80 per class)."""
    uri = str(tmp_path_factory.mktemp("tune") / "ds")
    generate("rml2016a", uri, scale=0.004, seed=0, executor="local", shard_bytes=2**18)
    return uri


def _values(dataset: str, out: str, **changes) -> dict:
    return {
        "data": dataset,
        "out": out,
        "methods": ["random", "duse"],
        "rates": list(RATES),
        "seeds": list(SEEDS),
        "model": "cnn1d",
        "eval_models": ["cnn1d"],
        "duse_rounds": 2,
        "duse_orders": ["smallest_first"],
        "split": {"test": 0.2, "target": 0.1},
        "train": {"epochs": 1, "batch_size": 64},
        "eval_train": {"epochs": 1, "batch_size": 64},
        "scoring": {"executor": "local", "batch_size": 256},
        "tsne_reference_frames": 100,
        "tune": {"max_concurrent_trials": 2, "cpus_per_trial": 1},
        **changes,
    }


@pytest.fixture(scope="module")
def benchmark(ray_session, dataset, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bench") / "out")
    return run_benchmark(BenchmarkConfig.from_dict(_values(dataset, out)))


def _expected(runs: list[dict], method: str, rate: float) -> list[float]:
    found = sorted(
        (r for r in runs if r["method"] == method and math.isclose(r["rate"], rate)),
        key=lambda r: r["seed"],
    )
    return [100 * r["evaluations"]["cnn1d"]["accuracy"] for r in found]


def test_every_cell_is_run_and_its_statistics_come_from_the_runs(benchmark):
    assert not benchmark.failed
    cells = {(r["method"], r["rate"], r["seed"]) for r in benchmark.runs}
    assert cells == {(m, r, s) for m in ("random", "duse") for r in RATES for s in SEEDS}
    for run in benchmark.runs:
        pool = run["pool_size"]
        assert run["budget"] == int(np.floor(run["rate"] * pool + 0.5))
        assert sum(run["selected_per_class"]) == run["budget"]
        assert run["rounds"] == (2 if run["method"] == "duse" else 1)
    with open(os.path.join(benchmark.out, "results.json")) as handle:
        stored = json.load(handle)
    assert len(stored["cells"]) == 4
    table_rows = {}  # the accuracy table comes first; the wall-time table repeats the names
    for line in benchmark.table.splitlines():
        table_rows.setdefault(line.split(" | ")[0][2:], line)
    for cell in stored["cells"]:
        accuracies = _expected(benchmark.runs, cell["method"], cell["rate"])
        assert cell["n"] == 2 and cell["accuracies"] == pytest.approx(accuracies)
        assert cell["mean"] == pytest.approx((accuracies[0] + accuracies[1]) / 2)
        assert cell["std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2)
        assert f"{cell['mean']:.2f} ± {cell['std']:.2f}" in table_rows[cell["method"]]


def test_every_cell_records_model_health_and_the_report_shows_it(benchmark):
    with open(os.path.join(benchmark.out, "results.json")) as handle:
        cells = json.load(handle)["cells"]
    for run in benchmark.runs:
        evaluation = run["evaluations"]["cnn1d"]
        assert 0 <= evaluation["train_accuracy"] <= 1
        assert isinstance(evaluation["near_chance"], bool)
        # near chance = below 1.5/C (training.NEAR_CHANCE_FACTOR) or too few classes predicted
        if evaluation["train_accuracy"] < 1.5 / 11:
            assert evaluation["near_chance"]
        assert [r["round"] for r in run["round_models"]] == list(range(1, run["rounds"] + 1))
        assert all(0 <= r["train_accuracy"] <= 1 for r in run["round_models"])
    health = [line for line in benchmark.table.splitlines() if "## Model health" in line]
    assert len(health) == 1
    for cell in cells:
        runs = [
            r
            for r in benchmark.runs
            if r["method"] == cell["method"] and math.isclose(r["rate"], cell["rate"])
        ]
        train = [100 * r["evaluations"]["cnn1d"]["train_accuracy"] for r in runs]
        rounds = [100 * m["train_accuracy"] for r in runs for m in r["round_models"]]
        assert cell["eval_train_accuracy"] == pytest.approx(np.mean(train))
        assert cell["round_train_accuracy"] == pytest.approx(np.mean(rounds))
        flagged = sum(r["evaluations"]["cnn1d"]["near_chance"] for r in runs)
        assert cell["eval_near_chance"] == flagged
        text = f"{np.mean(train):.0f} / {np.mean(rounds):.0f}"
        row = next(
            line
            for line in benchmark.table.split("## Model health")[1].splitlines()
            if line.startswith(f"| {cell['method']} |")
        )
        assert text in row


def test_round_models_shared_between_cells_are_trained_once(benchmark):
    # per seed: one first-round model for random and duse at both rates, and duse's second
    # round per rate (its target differs with the rate)
    models = os.listdir(os.path.join(benchmark.out, "fit_cache"))
    assert len([name for name in models if name.endswith(".pt")]) == len(SEEDS) * (1 + len(RATES))


def test_the_best_mean_of_each_rate_is_bold(benchmark):
    accuracy_table = benchmark.table.split("## Test accuracy")[1].split("\n## ")[0]
    rows = [line for line in accuracy_table.splitlines() if line.startswith("| random |")]
    rows += [line for line in accuracy_table.splitlines() if line.startswith("| duse |")]
    assert len(rows) == 2
    columns = [[part.strip() for part in row.strip("|").split("|")[1:]] for row in rows]
    for column in range(len(RATES)):
        means = [float(re.search(r"[\d.]+", row[column]).group()) for row in columns]
        bold = [row[column].startswith("**") for row in columns]
        assert bold == [mean == max(means) for mean in means]


def test_csv_holds_every_cell_and_run(benchmark):
    with open(os.path.join(benchmark.out, "results.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["kind"] for row in rows) == ["cell"] * 4 + ["run"] * 8
    for row in rows:
        if row["kind"] == "run":
            rate, seed = float(row["rate"]), int(row["seed"])
            expected = _expected(benchmark.runs, row["method"], rate)[SEEDS.index(seed)]
            assert float(row["accuracy"]) == pytest.approx(expected)


def test_figures_are_written_and_the_report_links_them(benchmark):
    for name in ("accuracy_vs_rate", "selected_per_class", "tsne", "accuracy_per_snr"):
        path = os.path.join(benchmark.out, "figures", f"{name}.png")
        with open(path, "rb") as handle:
            body = handle.read()
        assert body.startswith(b"\x89PNG") and len(body) > 5000, name
        assert f"figures/{name}.png" in benchmark.table
    assert "## Wall time per cell" in benchmark.table


def test_a_second_run_reads_finished_cells_back(benchmark):
    path = os.path.join(benchmark.out, "cells", "duse", "rate-0.05", "seed-0", "cell.json")
    before = os.stat(path).st_mtime_ns
    with open(os.path.join(benchmark.out, "config.yaml")) as handle:
        again = run_benchmark(BenchmarkConfig.from_yaml(handle.name))
    assert os.stat(path).st_mtime_ns == before
    assert again.runs == benchmark.runs


def test_another_config_in_the_same_out_is_refused_before_anything_is_written(dataset, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stored = BenchmarkConfig.from_dict(_values(dataset, str(out))).to_dict()
    (out / "config.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))
    for changes, keys in (
        ({"split": {"test": 0.3, "target": 0.1}}, ["split"]),
        ({"methods": ["random"]}, ["methods"]),
    ):
        message = f"{out} holds a run with a different config (keys {keys} differ)"
        with pytest.raises(ValueError, match=re.escape(message)):
            run_benchmark(BenchmarkConfig.from_dict(_values(dataset, str(out), **changes)))
        assert os.listdir(out) == ["config.yaml"]

    class StopAfterPrepareError(Exception):
        pass

    def stop() -> None:
        raise StopAfterPrepareError

    # the same grid, with only keys that cannot change a cell: resumed (stopped before trials)
    same = _values(dataset, str(out), figures=False, tune={"max_concurrent_trials": 1})
    with pytest.raises(StopAfterPrepareError):
        run_benchmark(BenchmarkConfig.from_dict(same), on_prepared=stop)
    assert sorted(os.listdir(out)) == ["config.yaml", "splits"]
    assert sorted(os.listdir(out / "splits")) == ["seed-0.json", "seed-1.json"]


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"methods": ["random", "nope"]}, KeyError, "nope"),
        ({"eval_models": ["cnn1d", "nonet"]}, KeyError, "nonet"),
        ({"model": "nonet"}, KeyError, "nonet"),
        ({"rates": []}, ValueError, "empty grid: rates"),
        ({"methods": []}, ValueError, "empty grid: methods"),
        ({"seeds": []}, ValueError, "empty grid: seeds"),
        ({"rates": [0.05, 0.0]}, ValueError, "outside"),
        ({"rates": [1.5]}, ValueError, "outside"),
        ({"ratez": [0.1]}, ValueError, "ratez"),
        ({"train": {"epoch": 1}}, ValueError, "epoch"),
        ({"tune": {"cpus": 1}}, ValueError, "cpus"),
        ({"duse_orders": ["middle"]}, ValueError, "middle"),
        ({"methods": ["random", "random"]}, ValueError, "repeat"),
        ({"methods": [{"name": "a/b", "scorer": "random"}]}, ValueError, "a/b"),
        ({"rates": [0.001]}, ValueError, "budget"),
    ],
)
def test_bad_input_fails_before_any_trial(dataset, tmp_path, changes, error, match):
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        run_benchmark(BenchmarkConfig.from_dict(_values(dataset, str(out), **changes)))
    assert not (out / "tune").exists() and not (out / "cells").exists()


def test_cli_reports_a_bad_config_as_a_user_error(dataset, tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(f"data: {dataset}\nout: {tmp_path}/out\nmethods: [nope]\n")
    assert main(["benchmark", "--config", str(config)]) == 2
    assert "nope" in capsys.readouterr().err


def test_duse_methods_expand_to_both_ends_and_the_ablation(dataset, tmp_path):
    config = BenchmarkConfig.from_dict(
        {"data": dataset, "out": str(tmp_path), "active_learning_ablation": True}
    )
    names = [
        (m.name, m.params.get("order"), m.rounds) for m in config.methods if m.scorer == "duse"
    ]
    assert names == [
        ("duse", "smallest_first", 5),
        ("duse_no_al", "smallest_first", 1),
        ("duse_largest_first", "largest_first", 5),
        ("duse_largest_first_no_al", "largest_first", 1),
    ]
    assert len(config.methods) == 8 + 4 + 1  # the baselines, four DUSE rows, random


def test_paper_numbers_follow_the_tables(tmp_path):
    base = {"data": "x", "out": str(tmp_path), "generate": {"profile": "rml2016a"}}
    imbalanced = BenchmarkConfig.from_dict({**base, "active_learning_ablation": True})
    assert paper_value(imbalanced, "duse", 0.07, "cnn2d") == (72.26, 1.01)  # Table I
    assert paper_value(imbalanced, "duse_no_al", 0.07, "cnn2d") == (48.77, 2.18)  # Table IV
    assert paper_value(imbalanced, "duse", 0.04, "signet") == (80.64, 1.92)  # Table III
    assert paper_value(imbalanced, "random", 0.07, "cnn2d") is None
    assert paper_value(imbalanced, "duse", 0.05, "cnn2d") is None
    balanced = BenchmarkConfig.from_dict({**base, "balanced": True})
    assert paper_value(balanced, "herding", 0.04, "cnn2d") == (66.01, 0.74)  # Table II
    other = BenchmarkConfig.from_dict({**base, "model": "cnn1d"})
    assert paper_value(other, "duse", 0.07, "cnn2d") is None


def test_demo_runs_a_benchmark_config_and_prints_the_table(ray_session, dataset, tmp_path, capsys):
    values = _values(dataset, "unused", methods=["random"], rates=[0.1], seeds=[0])
    values.update(figures=False, generate={"profile": "rml2016a", "scale": 0.004})
    config = tmp_path / "quick.yaml"
    config.write_text(json.dumps(values))  # JSON is YAML
    out = tmp_path / "demo"
    assert main(["demo", "--config", str(config), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "synthetic rml2016a" in printed  # the generated set's summary, as before
    assert "| random | " in printed and f"report: {out}/results.md" in printed
    assert (out / "data" / "dataset.json").exists() and (out / "results.md").exists()


def test_a_failed_trial_is_reported_and_a_rerun_resumes_it(ray_session, dataset, tmp_path):
    values = _values(dataset, str(tmp_path / "out"), methods=["random"], rates=[0.05, 0.1])
    values.update(seeds=[0], figures=False)
    config = BenchmarkConfig.from_dict(values)
    # a stale run of another config in one cell's expansion directory: expand refuses it
    stale = tmp_path / "out" / "cells" / "random" / "rate-0.1" / "seed-0" / "expansion"
    stale.mkdir(parents=True)
    (stale / "config.yaml").write_text("scorer: margin\n")
    result = run_benchmark(config)
    assert [(f["method"], f["rate"], f["seed"]) for f in result.failed] == [("random", 0.1, 0)]
    assert "different config" in result.failed[0]["error"]
    assert [(r["rate"], r["seed"]) for r in result.runs] == [(0.05, 0)]
    assert "## Failed cells" in result.table and "random rate 0.1 seed 0" in result.table
    (stale / "config.yaml").unlink()
    again = run_benchmark(config)
    assert not again.failed and [r["rate"] for r in again.runs] == [0.05, 0.1]
    assert again.runs[0] == result.runs[0]  # the finished cell was read back


def test_a_report_with_missing_cells_shows_dashes(tmp_path):
    from engine.benchmark.report import write_report

    values = {"data": "x", "out": str(tmp_path), "methods": ["random", "margin"], "seeds": [0, 1]}
    config = BenchmarkConfig.from_dict({**values, "rates": [0.04], "figures": False})
    runs = [
        {
            "method": "random",
            "rate": 0.04,
            "seed": seed,
            "budget": 10,
            "selection_s": 2.0 * (seed + 1),
            "evaluations": {"cnn2d": {"accuracy": accuracy, "training_s": 1.0}},
        }
        for seed, accuracy in ((0, 0.25), (1, 0.35))
    ]
    with open(write_report(config, runs, [])) as handle:
        text = handle.read()
    assert "| random | **30.00 ± 5.00** |" in text
    assert "| margin | - (paper" not in text and "| margin | - |" in text
    assert "| random | 1 | 3.0 | 1.0 |" in text and "| margin | 1 | - | - |" in text


def test_model_health_has_a_table_per_evaluation_model(tmp_path):
    from engine.benchmark.report import write_report

    values = {"data": "x", "out": str(tmp_path), "methods": ["random"], "seeds": [0]}
    config = BenchmarkConfig.from_dict(
        {**values, "rates": [0.04], "figures": False, "eval_models": ["cnn1d", "gru"]}
    )
    health = {"cnn1d": (0.96, False), "gru": (0.41, False)}
    runs = [
        {
            "method": "random",
            "rate": 0.04,
            "seed": 0,
            "budget": 10,
            "selection_s": 1.0,
            "round_models": [{"round": 1, "train_accuracy": 0.8, "near_chance": False}],
            "evaluations": {
                name: {"accuracy": 0.5, "training_s": 1.0, "train_accuracy": a, "near_chance": c}
                for name, (a, c) in health.items()
            },
        }
    ]
    with open(write_report(config, runs, [])) as handle:
        section = handle.read().split("## Model health")[1].split("## Wall time")[0]
    cnn1d, gru = section.split("Evaluation model `gru`:")
    assert "Evaluation model `cnn1d`:" in cnn1d and "| random | 96 / 80 |" in cnn1d
    assert "| random | 41 / 80 |" in gru  # the under-fit evaluator shows, not only the first
