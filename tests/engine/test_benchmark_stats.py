"""Paired statistics of the benchmark report on hand-made cells (no training, no Ray).

Accuracies (%) per seed 0, 1, 2 at one rate:

    random  20  30  25   mean 25
    margin  22  29  30   mean 27 (the best baseline)
    duse    25  33  31   mean 29.67

duse - random = +5, +3, +6: mean 4.667, 3 wins, sign p = 2 / 2^3 = 0.25. Bootstrap means of 3
resampled pairs range over [3, 6] and each end has probability 1/27 = 3.7 % > 2.5 %, so the
95 % CI is exactly [3, 6]. duse - margin = +3, +4, +1: mean 2.667, CI [1, 4], p 0.25.
margin - random = +2, -1, +5: mean 2, 2 wins / 1 loss, p = 1. random - margin = -2, +1, -5.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from engine.benchmark import BenchmarkConfig, write_report
from engine.benchmark.report import (
    aggregate,
    markdown,
    paired_differences,
    paired_statistics,
    sign_test_p,
)

ACCURACY = {"random": (20, 30, 25), "margin": (22, 29, 30), "duse": (25, 33, 31)}


def _config(tmp_path, **changes) -> BenchmarkConfig:
    values = {
        "data": "x",
        "out": str(tmp_path),
        "methods": ["random", "margin", "duse"],
        "duse_orders": ["smallest_first"],
        "rates": [0.04],
        "seeds": [0, 1, 2],
        "figures": False,
        **changes,
    }
    return BenchmarkConfig.from_dict(values)


def _runs(accuracy: dict = ACCURACY, rate: float = 0.04) -> list[dict]:
    return [
        {
            "method": method,
            "rate": rate,
            "seed": seed,
            "budget": 10,
            "selection_s": 1.0,
            "evaluations": {"cnn2d": {"accuracy": value / 100, "training_s": 1.0}},
        }
        for method, values in accuracy.items()
        for seed, value in enumerate(values)
    ]


def _by_pair(records: list[dict]) -> dict:
    return {(r["method"], r["reference"]): r for r in records}


@pytest.mark.parametrize(
    ("differences", "expected"),
    [
        ([1.0, 2.0, 3.0], 0.25),  # 3 seeds, all wins: the smallest p there is
        ([1.0, -2.0, 3.0], 1.0),  # 2 wins / 1 loss: 2 * P(X <= 1) = 2 * 4/8, capped at 1
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0.0625),  # 5 seeds: 2 / 32
        ([1.0, 2.0, 3.0, 4.0, -1.0], 0.375),  # 4 / 1: 2 * (1 + 5) / 32
        ([0.0, 1.0, 2.0, 3.0], 0.25),  # a zero difference is dropped
        ([0.0, 0.0], 1.0),
        ([], 1.0),
    ],
)
def test_sign_test_by_hand(differences, expected):
    assert sign_test_p(np.array(differences)) == pytest.approx(expected)


def test_paired_statistics_by_hand():
    result = paired_statistics(np.array([5.0, 3.0, 6.0]))
    assert result["n"] == 3 and result["mean"] == pytest.approx(14 / 3)
    assert (result["ci_low"], result["ci_high"]) == (3.0, 6.0)
    assert (result["wins"], result["losses"], result["sign_p"]) == (3, 0, pytest.approx(0.25))
    assert result["significant"] == "win"
    loss = paired_statistics(np.array([-5.0, -3.0, -6.0]))
    assert (loss["ci_low"], loss["ci_high"], loss["significant"]) == (-6.0, -3.0, "loss")
    mixed = paired_statistics(np.array([2.0, -1.0, 5.0]))
    assert mixed["mean"] == pytest.approx(2.0) and mixed["significant"] == ""
    assert mixed["ci_low"] < 0 < mixed["ci_high"] and mixed["sign_p"] == pytest.approx(1.0)
    empty = paired_statistics(np.array([]))
    assert empty["n"] == 0 and np.isnan(empty["mean"]) and empty["significant"] == ""


def test_the_bootstrap_is_seeded():
    values = np.random.default_rng(3).normal(1.0, 2.0, 5)
    first, again = paired_statistics(values, seed=7), paired_statistics(values, seed=7)
    assert first == again
    other = paired_statistics(values, seed=8)
    assert other["ci_low"] != first["ci_low"] and other["mean"] == first["mean"]


def test_each_method_against_random_and_the_best_baseline(tmp_path):
    config = _config(tmp_path)
    records = _by_pair(paired_differences(config, aggregate(config, _runs())))
    assert sorted(records) == [
        ("duse", "best_baseline"),
        ("duse", "random"),
        ("margin", "random"),
        ("random", "best_baseline"),
    ]  # no method against itself: margin is the best baseline, random the random row
    duse = records[("duse", "random")]
    assert duse["seeds"] == [0, 1, 2] and duse["differences"] == pytest.approx([5, 3, 6])
    assert duse["mean"] == pytest.approx(14 / 3) and [
        duse["ci_low"],
        duse["ci_high"],
    ] == pytest.approx([3, 6])
    assert duse["sign_p"] == pytest.approx(0.25) and duse["significant"] == "win"
    best = records[("duse", "best_baseline")]
    assert best["reference_method"] == "margin" and best["differences"] == pytest.approx([3, 4, 1])
    assert best["mean"] == pytest.approx(8 / 3) and [
        best["ci_low"],
        best["ci_high"],
    ] == pytest.approx([1, 4])
    margin = records[("margin", "random")]
    assert margin["mean"] == pytest.approx(2.0) and (margin["wins"], margin["losses"]) == (2, 1)
    assert margin["sign_p"] == pytest.approx(1.0) and margin["significant"] == ""
    random = records[("random", "best_baseline")]
    assert random["differences"] == pytest.approx([-2, 1, -5])


def test_pairs_are_matched_by_seed_and_ties_go_to_the_first_row(tmp_path):
    config = _config(tmp_path)
    runs = [
        run
        for run in _runs({"random": (20, 30, 25), "margin": (26, 24, 25), "duse": (25, 33, 31)})
        if not (run["method"] == "duse" and run["seed"] == 1)
    ]
    records = _by_pair(paired_differences(config, aggregate(config, runs)))
    duse = records[("duse", "random")]
    assert duse["seeds"] == [0, 2] and duse["differences"] == pytest.approx([5, 6])
    # random and margin both average 25: the best baseline is random, the first row
    assert records[("duse", "best_baseline")]["reference_method"] == "random"
    assert ("random", "best_baseline") not in records


def test_the_report_shows_csv_and_json_hold_the_paired_differences(tmp_path):
    config = _config(tmp_path)
    with open(write_report(config, _runs(), [])) as handle:
        text = handle.read()
    section = text[text.index("## Paired differences") : text.index("## Wall time")]
    assert "cannot give p below 0.25" in section
    rows = [line for line in section.splitlines() if line.startswith("| 4 % |")]
    assert rows == [
        "| 4 % | random | - | - | - | margin | -2.00 | [-5.00, +1.00] | 1 (1/2) |",
        "| 4 % | margin | +2.00 | [-1.00, +5.00] | 1 (2/1) | - | - | - | - |",
        "| 4 % | duse | **+4.67** | [+3.00, +6.00] | 0.25 (3/0) | margin | **+2.67** "
        "| [+1.00, +4.00] | 0.25 (3/0) |",
    ]
    with open(os.path.join(config.out, "results.json")) as handle:
        assert len(json.load(handle)["paired"]) == 4
    with open(os.path.join(config.out, "results.csv")) as handle:
        cells = {row["method"]: row for row in csv.DictReader(handle) if row["kind"] == "cell"}
    assert float(cells["duse"]["vs_random_mean"]) == pytest.approx(14 / 3)
    assert cells["duse"]["best_baseline"] == "margin"
    assert float(cells["duse"]["vs_best_baseline_ci_low"]) == pytest.approx(1.0)
    assert cells["duse"]["vs_best_baseline_significant"] == "win"
    assert cells["margin"]["vs_best_baseline_mean"] == ""


def test_five_seeds_by_default_and_the_p_floor_follows_them(tmp_path):
    config = BenchmarkConfig.from_dict({"data": "x", "out": str(tmp_path)})
    assert config.seeds == (0, 1, 2, 3, 4)
    five = _config(tmp_path, seeds=[0, 1, 2, 3, 4])
    accuracy = {"random": (20, 21, 22, 23, 24), "margin": (21, 22, 23, 24, 25)}
    accuracy["duse"] = (22, 23, 24, 25, 26)
    text = markdown(five, aggregate(five, _runs(accuracy)), [], [])
    assert "cannot give p below 0.0625" in text
    assert "| 4 % | duse | **+2.00** | [+2.00, +2.00] | 0.0625 (5/0) |" in text


def test_the_p_floor_line_says_how_many_wins_six_or_more_seeds_need(tmp_path):
    for seeds, wins in ((6, 6), (8, 8), (10, 9)):  # 7 of 8: p = 0.070; 9 of 10: p = 0.021
        config = _config(tmp_path, seeds=list(range(seeds)))
        accuracy = {name: tuple(range(20, 20 + seeds)) for name in ("random", "margin", "duse")}
        text = markdown(config, aggregate(config, _runs(accuracy)), [], [])
        assert f"p < 0.05 needs at least {wins} of {seeds} pairs one way" in text
        assert "it needs 6 seeds" not in text
