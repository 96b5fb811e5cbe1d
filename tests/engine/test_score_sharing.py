"""Less work per grid: a first round's pool scores are stored once and every rate selects from
them exactly what a fresh pass selects (ties and both modes included); the key holds everything
the scores depend on; two runs computing one entry at once are safe; identical benchmark cells
run once and are reported under both names, with the numbers of a grid that shares nothing."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from engine.benchmark import BenchmarkConfig, run_benchmark
from engine.benchmark.grid import identical_cells, trial_order, write_repeats
from engine.data import generate
from engine.expansion import ExpandConfig, expand
from engine.expansion import score_cache as cache_module
from engine.expansion.score_cache import score_identity
from scorers import ModelOutputs, Needs, PointwiseScorer, get_scorer
from scorers._internal import registry

RATES = (0.02, 0.05, 0.1)
MANIFEST = ("id", "round", "rank", "score", "label", "snr")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """880 rml2016a frames (80 per class)."""
    uri = str(tmp_path_factory.mktemp("sharing") / "ds")
    generate("rml2016a", uri, scale=0.004, seed=0, executor="local", shard_bytes=2**18)
    return uri


def _config(dataset: str, out: Path, **changes) -> ExpandConfig:
    values = {
        "data": dataset,
        "out": str(out),
        "model": "cnn1d",
        "rounds": 1,
        "seed": 1,
        "split": {"test": 0.2, "target": 0.1},
        "train": {"epochs": 1, "batch_size": 64},
        "scoring": {"executor": "local", "batch_size": 128},
        "evaluate": False,
        **changes,
    }
    return ExpandConfig.from_dict(values)


class _Tied(PointwiseScorer):
    """Three distinct scores over the whole pool: every cut falls inside a tie."""

    needs = Needs.NONE

    def score(self, outputs: ModelOutputs) -> np.ndarray:
        return (outputs.ids % 3).astype(np.float64)


@pytest.fixture
def tied():
    registry.register("test_tied")(_Tied)
    yield "test_tied"
    registry._unregister("test_tied")


def _round_facts(result) -> list[tuple]:
    keys = ("k", "train_accuracy", "train_loss", "model_quality", "selected_per_class")
    return [tuple(json.dumps(r[key]) for key in keys) for r in result.metrics["rounds"]]


def _assert_same_selection(shared, fresh) -> None:
    for column in MANIFEST:
        np.testing.assert_array_equal(shared.manifest[column], fresh.manifest[column], column)
    assert _round_facts(shared) == _round_facts(fresh)


@pytest.mark.parametrize(
    ("scorer", "params"),
    [
        ("margin", {}),
        ("random", {}),
        ("test_tied", {}),
        ("forgetting", {}),
        ("grand", {"repeats": 2, "warmup_epochs": 1}),
    ],
)
def test_every_rate_and_mode_selects_from_one_stored_pass_what_a_fresh_pass_selects(
    dataset, tmp_path, tied, scorer, params
):
    cache, fits = tmp_path / "scores", str(tmp_path / "fits")
    first = True
    for balanced in (False, True):  # the scores do not depend on the mode: one entry for both
        for rate in RATES:
            values = {"scorer": scorer, "scorer_params": params, "rate": rate}
            values.update(balanced=balanced, fit_cache=fits)
            name = f"{balanced}-{rate}"
            fresh = expand(_config(dataset, tmp_path / f"fresh-{name}", **values))
            shared = expand(
                _config(dataset, tmp_path / f"shared-{name}", **values), score_cache=str(cache)
            )
            _assert_same_selection(shared, fresh)
            assert [r["scores_cached"] for r in shared.metrics["rounds"]] == [not first]
            assert [r["scores_cached"] for r in fresh.metrics["rounds"]] == [False]
            first = False
    assert len(list(cache.glob("*.npz"))) == 1
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no staging left


def test_a_multi_round_run_shares_only_its_first_round_and_duse_reads_margins_scores(
    dataset, tmp_path
):
    cache = str(tmp_path / "scores")
    fits = str(tmp_path / "fits")
    margin = expand(
        _config(dataset, tmp_path / "margin", scorer="margin", fit_cache=fits), score_cache=cache
    )
    values = {"scorer": "duse", "rounds": 3, "rate": 0.1, "fit_cache": fits}
    fresh = expand(_config(dataset, tmp_path / "fresh", **values))
    shared = expand(_config(dataset, tmp_path / "shared", **values), score_cache=cache)
    _assert_same_selection(shared, fresh)
    assert [r["scores_cached"] for r in margin.metrics["rounds"]] == [False]
    assert [r["scores_cached"] for r in shared.metrics["rounds"]] == [True, False, False]
    assert len(os.listdir(cache)) == 1  # later rounds depend on k: never stored
    values["scorer_params"] = {"order": "largest_first"}  # the other end is its own function
    other = expand(_config(dataset, tmp_path / "largest", **values), score_cache=cache)
    assert [r["scores_cached"] for r in other.metrics["rounds"]] == [False, False, False]
    assert len(os.listdir(cache)) == 2


def test_duse_smallest_first_and_margin_are_one_score_function():
    probs = np.random.default_rng(0).dirichlet(np.ones(11), size=500)
    outputs = ModelOutputs(np.arange(500), np.zeros(500, np.int64), probs=probs)
    duse, margin = get_scorer("duse", order="smallest_first"), get_scorer("margin")
    assert duse.needs == margin.needs
    np.testing.assert_array_equal(duse.score(outputs), margin.score(outputs))
    assert score_identity("duse", {}) == score_identity("duse", {"order": "smallest_first"})
    assert score_identity("duse", {}) == score_identity("margin", {})
    assert score_identity("duse", {"order": "largest_first"})[0] == "duse"


def test_a_random_scorer_shares_only_with_the_same_seed(dataset, tmp_path):
    cache = tmp_path / "scores"
    fits = str(tmp_path / "fits")
    chosen = {}
    for name, params in (("default", {}), ("one", {"seed": 1}), ("five", {"seed": 5})):
        config = _config(
            dataset, tmp_path / name, scorer="random", scorer_params=params, fit_cache=fits
        )
        result = expand(config, score_cache=str(cache))
        chosen[name] = (result.manifest["id"], result.metrics["rounds"][0]["scores_cached"])
    # the run's seed (1) is the default scorer seed: {} and {"seed": 1} are one draw
    np.testing.assert_array_equal(chosen["default"][0], chosen["one"][0])
    assert [chosen[name][1] for name in ("default", "one", "five")] == [False, True, False]
    assert not np.array_equal(chosen["default"][0], chosen["five"][0])
    assert len(list(cache.glob("*.npz"))) == 2
    other_seed = _config(dataset, tmp_path / "seed-2", scorer="random", seed=2, fit_cache=fits)
    assert not expand(other_seed, score_cache=str(cache)).metrics["rounds"][0]["scores_cached"]


def _racing_expand(dataset: str, out: str, cache: str, fits: str, rate: float, barrier) -> list:
    """Run in a separate process: miss the cache, then publish together with the other one."""
    real_store = cache_module.store

    def store_after_the_other_missed(*args, **kwargs):
        barrier.wait(timeout=120)
        return real_store(*args, **kwargs)

    cache_module.load = lambda *args, **kwargs: None
    cache_module.store = store_after_the_other_missed
    config = _config(dataset, Path(out), scorer="margin", rate=rate, fit_cache=fits)
    return expand(config, score_cache=cache).manifest["id"].tolist()


def test_two_runs_computing_one_entry_at_once_both_publish_it_whole(dataset, tmp_path):
    cache, fits = str(tmp_path / "scores"), str(tmp_path / "fits")
    expand(_config(dataset, tmp_path / "warm", scorer="margin", fit_cache=fits))  # model stored
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(2) as pool:
        barrier = manager.Barrier(2)
        jobs = [
            pool.apply_async(
                _racing_expand, (dataset, str(tmp_path / f"race-{r}"), cache, fits, r, barrier)
            )
            for r in (0.05, 0.1)
        ]
        raced = [job.get(timeout=300) for job in jobs]
    assert sorted(os.listdir(cache)) == [next(iter(os.listdir(cache)))]  # one file, no staging
    for rate, ids in zip((0.05, 0.1), raced, strict=True):
        values = {"scorer": "margin", "rate": rate, "fit_cache": fits}
        fresh = expand(_config(dataset, tmp_path / f"fresh-{rate}", **values))
        after = expand(_config(dataset, tmp_path / f"after-{rate}", **values), score_cache=cache)
        assert after.metrics["rounds"][0]["scores_cached"]
        assert after.manifest["id"].tolist() == ids == fresh.manifest["id"].tolist()


# The grid: identical cells and the trial order (no trials run).


def _grid(tmp_path, **changes) -> BenchmarkConfig:
    values = {
        "data": "x",
        "out": str(tmp_path),
        "methods": [
            "margin",
            {"name": "margin_again", "scorer": "duse", "params": {"order": "smallest_first"}},
            "random",
            {"name": "random_0", "scorer": "random", "params": {"seed": 0}},
            "duse",
        ],
        "rates": [0.05, 0.1],
        "seeds": [0, 1],
        "duse_orders": ["smallest_first"],
        "active_learning_ablation": True,
        **changes,
    }
    return BenchmarkConfig.from_dict(values)


def test_identical_cells_are_found_by_score_function_rounds_rate_and_seed(tmp_path):
    config = _grid(tmp_path)
    splits = {seed: f"split-{seed}.json" for seed in config.seeds}
    repeats = identical_cells(config, config.cells(), splits)
    found = {key: original["method"] for key, original in repeats.items()}
    expected = {
        (name, r, s): "margin"
        for name in ("margin_again", "duse_no_al")
        for r in (0.05, 0.1)
        for s in (0, 1)
    }
    # random's seed defaults to the cell's seed: random_0 repeats random at seed 0 only
    expected.update({("random_0", r, 0): "random" for r in (0.05, 0.1)})
    assert found == expected
    for key, original in repeats.items():
        assert (original["rate"], original["seed"]) == key[1:]


def test_trials_start_rate_by_rate_within_each_seed(tmp_path):
    config = _grid(tmp_path, methods=["margin", "random"])
    order = [(c["seed"], c["rate"], c["method"]) for c in trial_order(config, config.cells())]
    assert order == [
        (seed, rate, method)
        for seed in (0, 1)
        for rate in (0.05, 0.1)
        for method in ("margin", "random")
    ]


def test_a_repeat_of_a_cell_that_did_not_finish_is_a_failed_cell(tmp_path):
    config = _grid(tmp_path, methods=["margin", "duse"], rates=[0.05], seeds=[0])
    repeats = identical_cells(config, config.cells(), {0: "split.json"})
    failed = write_repeats(config, config.cells(), repeats)
    assert failed == [
        {
            "method": "duse_no_al",
            "rate": 0.05,
            "seed": 0,
            "error": "same as margin, which did not finish",
        }
    ]


# The grid through Ray Tune, shared and not.


def _benchmark(dataset: str, out: Path, **changes) -> BenchmarkConfig:
    values = {
        "data": dataset,
        "out": str(out),
        "methods": [
            "margin",
            {"name": "margin_again", "scorer": "duse", "params": {"order": "smallest_first"}},
            "random",
        ],
        "rates": [0.05, 0.1],
        "seeds": [0],
        "model": "cnn1d",
        "eval_models": ["cnn1d"],
        "split": {"test": 0.2, "target": 0.1},
        "train": {"epochs": 1, "batch_size": 64},
        "eval_train": {"epochs": 1, "batch_size": 64},
        "scoring": {"executor": "local", "batch_size": 256},
        "figures": False,
        "tune": {"max_concurrent_trials": 1, "cpus_per_trial": 1},  # a fixed order: exact counts
        **changes,
    }
    return BenchmarkConfig.from_dict(values)


def _first_rounds_scored(out: Path) -> int:
    """Cells whose first round scored the pool (not read from the score cache)."""
    return sum(
        not json.loads(path.read_text())["rounds"][0]["scores_cached"]
        for path in out.glob("cells/*/*/*/expansion/metrics.json")
    )


def _selected(record: dict) -> list[int]:
    import pyarrow.parquet as pq

    return pq.read_table(record["manifest"], columns=["id"]).column("id").to_pylist()


def test_a_shared_grid_scores_once_per_function_and_copies_identical_cells(
    ray_session, dataset, tmp_path
):
    shared = run_benchmark(_benchmark(dataset, tmp_path / "shared"))
    alone = run_benchmark(
        _benchmark(dataset, tmp_path / "alone", share_scores=False, share_cells=False)
    )
    assert not shared.failed and not alone.failed
    # one pass per score function (margin = margin_again, random), not one per cell
    assert len(list((tmp_path / "shared" / "score_cache").glob("*.npz"))) == 2
    assert _first_rounds_scored(tmp_path / "shared") == 2
    assert not (tmp_path / "alone" / "score_cache").exists()
    assert _first_rounds_scored(tmp_path / "alone") == 6
    # the copy ran nothing and carries its original's numbers under its own name
    copies = [r for r in shared.runs if r["method"] == "margin_again"]
    assert [r.get("same_as") for r in copies] == ["margin", "margin"]
    assert not (
        tmp_path / "shared" / "cells" / "margin_again" / "rate-0.05" / "seed-0" / "expansion"
    ).exists()
    # every cell, copied or not, has the numbers of the grid that shares nothing
    measured = (
        "budget",
        "pool_size",
        "final_target_size",
        "selected_per_class",
        "scorer",
        "rounds",
    )
    by_cell = {(r["method"], r["rate"], r["seed"]): r for r in alone.runs}
    assert len(shared.runs) == len(alone.runs) == 6
    for record in shared.runs:
        reference = by_cell[(record["method"], record["rate"], record["seed"])]
        assert {key: record[key] for key in measured} == {key: reference[key] for key in measured}
        accuracy = record["evaluations"]["cnn1d"]["accuracy"]
        assert accuracy == reference["evaluations"]["cnn1d"]["accuracy"]
        assert _selected(record) == _selected(reference)
    assert "`margin_again` = `margin`" in shared.table
    assert "`margin_again`" not in alone.table
