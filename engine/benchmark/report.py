"""The benchmark's report: cells aggregated over seeds, tables (markdown, CSV, JSON) and figures.

``results.md`` follows the DUSE paper's table layout (rows = methods, columns = expansion rates,
cells = mean ± std over seeds, best mean per column in bold) with the paper's own number beside
ours where one exists (:mod:`engine.benchmark.paper`), then paired differences against
``random`` and the best baseline (:func:`paired_differences`: same seed = same split, a seeded
bootstrap CI over the seed pairs and an exact two-sided sign test). Figures are matplotlib PNGs
drawn without pyplot (no global state): accuracy vs rate, samples selected per class (paper
Fig. 3), t-SNE of the expanded sets (Fig. 4) and accuracy per SNR of the best methods.
"""

from __future__ import annotations

import csv
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from engine._internal.atomic import text_writer, write_json, write_text
from engine.benchmark.paper import (
    CROSS_ARCHITECTURE_RATE,
    PAPER_RATES,
    TABLE_I,
    TABLE_II,
    TABLE_III,
)

if TYPE_CHECKING:
    from engine.benchmark.config import BenchmarkConfig
    from engine.benchmark.tsne import TsnePoints

__all__ = [
    "aggregate",
    "draw_figures",
    "markdown",
    "paired_differences",
    "paired_statistics",
    "paper_value",
    "sign_test_p",
    "write_report",
]

FIGURE_NAMES = ("accuracy_vs_rate", "selected_per_class", "tsne", "accuracy_per_snr")
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
# The two comparisons of each row: against ``random`` and against the best baseline.
REFERENCES = ("random", "best_baseline")


def _rate_label(rate: float) -> str:
    return f"{rate * 100:g} %"


def _paper_index(rate: float) -> int | None:
    matches = [n for n, paper in enumerate(PAPER_RATES) if math.isclose(paper, rate)]
    return matches[0] if matches else None


def paper_value(
    config: BenchmarkConfig, method_name: str, rate: float, eval_model: str
) -> tuple[float, float] | None:
    """The paper's (mean, std) in % for this row, rate and evaluator; None where it has none.

    Tables I (imbalanced) and II (balanced, RML2016.10a only) need the 2D-CNN as scorer and
    evaluator; Table III gives DUSE at 4 % with other evaluators. A one-round DUSE row maps to
    the Margin row (the paper's Table IV "without active learning" equals it to the digit).
    """
    dataset = config.paper_dataset()
    method = config.method(method_name)
    index = _paper_index(rate)
    if dataset is None or index is None or config.model != "cnn2d":
        return None
    key = "margin" if method.scorer == "duse" and method.rounds == 1 else method.scorer
    if eval_model == "cnn2d":
        table = (TABLE_II if config.balanced else TABLE_I).get(dataset, {})
        row = table.get(key)
        return row[index] if row else None
    is_duse = method.scorer == "duse" and method.rounds > 1
    if is_duse and not config.balanced and math.isclose(rate, CROSS_ARCHITECTURE_RATE):
        return TABLE_III[dataset].get(eval_model)
    return None


def aggregate(config: BenchmarkConfig, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (method, evaluation model, rate): accuracy in % over the seeds.

    ``std`` is the population standard deviation (ddof=0; 0 for one seed). Cells without any
    finished run are kept with ``n = 0`` and NaN statistics.

    Returns:
        Records with ``method, eval_model, rate, n, seeds, accuracies, mean, std,
        selection_s, training_s, paper_mean, paper_std`` and the model health
        (``eval_train_accuracy``, ``round_train_accuracy`` in %, NaN when not recorded;
        ``eval_near_chance``, ``round_near_chance``: runs with a near-chance model).
    """
    cells = []
    for eval_model in config.eval_models:
        for method in config.methods:
            for rate in config.rates:
                found = [
                    run
                    for run in runs
                    if run["method"] == method.name and math.isclose(run["rate"], rate)
                ]
                found.sort(key=lambda run: run["seed"])
                accuracies = [100 * run["evaluations"][eval_model]["accuracy"] for run in found]
                training = [run["evaluations"][eval_model]["training_s"] for run in found]
                health = _health(found, eval_model)
                paper = paper_value(config, method.name, rate, eval_model)
                cells.append(
                    {
                        "method": method.name,
                        "eval_model": eval_model,
                        "rate": rate,
                        "n": len(found),
                        "seeds": [run["seed"] for run in found],
                        "accuracies": accuracies,
                        "mean": float(np.mean(accuracies)) if found else math.nan,
                        "std": float(np.std(accuracies)) if found else math.nan,
                        "selection_s": _mean([run["selection_s"] for run in found]),
                        "training_s": _mean(training),
                        "paper_mean": paper[0] if paper else None,
                        "paper_std": paper[1] if paper else None,
                        **health,
                    }
                )
    return cells


def _health(runs: list[dict[str, Any]], eval_model: str) -> dict[str, Any]:
    """Model health over a cell's seeds: mean training accuracy (%) of the evaluation model
    and of the round models, and how many runs had a near-chance one (records from before
    these fields count as unknown and are left out)."""
    evaluated = [run["evaluations"][eval_model] for run in runs]
    rounds = [r for run in runs for r in run.get("round_models", [])]

    def known(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if r.get("train_accuracy") is not None]

    return {
        "eval_train_accuracy": _mean([100 * r["train_accuracy"] for r in known(evaluated)]),
        "eval_near_chance": sum(bool(r["near_chance"]) for r in known(evaluated)),
        "round_train_accuracy": _mean([100 * r["train_accuracy"] for r in known(rounds)]),
        "round_near_chance": sum(
            any(r["near_chance"] for r in known(run.get("round_models", []))) for run in runs
        ),
    }


def sign_test_p(differences: np.ndarray) -> float:
    """Exact two-sided sign test of "median difference = 0"; zero differences are dropped.

    ``p = min(1, 2 P(X <= min(wins, losses)))`` with ``X ~ Binomial(wins + losses, 1/2)``. With
    ``n`` nonzero pairs the smallest possible p is ``2^(1 - n)``: 0.25 for 3 seeds, 0.0625 for 5.

    Args:
        differences: ``[n]`` paired differences (method minus reference).

    Returns:
        The p-value in ``(0, 1]``; 1.0 when every difference is 0 (or there are none).
    """
    values = np.asarray(differences, dtype=np.float64)
    wins, losses = int((values > 0).sum()), int((values < 0).sum())
    if wins + losses == 0:
        return 1.0
    return float(stats.binomtest(wins, wins + losses, 0.5).pvalue)


def paired_statistics(
    differences: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Mean paired difference, its 95 % bootstrap CI and the sign test.

    The CI is the 2.5 and 97.5 percentiles of the mean over ``resamples`` resamples (with
    replacement) of the pairs, drawn by ``np.random.default_rng(seed)``: the same draws for
    every comparison with the same number of pairs, so a result does not depend on the others.
    With few pairs the bootstrap is coarse (3 pairs: 10 distinct resampled means) and can
    exclude 0 where the sign test cannot go below 0.25; report both.

    Args:
        differences: ``[n]`` paired differences in accuracy points (method minus reference).
        resamples: bootstrap resamples.
        seed: seeds the resampling.

    Returns:
        ``n, mean, ci_low, ci_high, wins, losses, sign_p`` and ``significant`` (``"win"`` when
        the CI lies above 0, ``"loss"`` below, ``""`` otherwise); NaN statistics when ``n = 0``.
    """
    values = np.asarray(differences, dtype=np.float64)
    count = len(values)
    result: dict[str, Any] = {
        "n": count,
        "mean": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "wins": int((values > 0).sum()),
        "losses": int((values < 0).sum()),
        "sign_p": sign_test_p(values),
        "significant": "",
    }
    if count == 0:
        return result
    draws = np.random.default_rng(seed).integers(0, count, size=(resamples, count))
    low, high = np.percentile(values[draws].mean(axis=1), [2.5, 97.5])
    result.update(mean=float(values.mean()), ci_low=float(low), ci_high=float(high))
    result["significant"] = "win" if low > 0 else "loss" if high < 0 else ""
    return result


def _paired(
    cell: dict[str, Any], reference: dict[str, Any], resamples: int, seed: int
) -> dict[str, Any]:
    """The paired comparison of two cells over the seeds both have."""
    theirs = dict(zip(reference["seeds"], reference["accuracies"], strict=True))
    seeds = [s for s in cell["seeds"] if s in theirs]
    mine = dict(zip(cell["seeds"], cell["accuracies"], strict=True))
    differences = [mine[s] - theirs[s] for s in seeds]
    return {
        "reference_method": reference["method"],
        "seeds": seeds,
        "differences": differences,
        **paired_statistics(np.array(differences), resamples=resamples, seed=seed),
    }


def paired_differences(
    config: BenchmarkConfig,
    cells: list[dict[str, Any]],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> list[dict[str, Any]]:
    """Each method against ``random`` and the best baseline, per rate and evaluation model.

    Differences are paired by seed (one seed = one split, one evaluation seed; method minus
    reference, accuracy points). The best baseline of a rate is the non-DUSE row (``random``
    included) with the highest mean there, the first in ``config.methods`` among equal means. A
    method is not compared with itself, and rows without finished runs are skipped.

    Args:
        config: the benchmark (its ``methods`` give the order and which rows are DUSE).
        cells: :func:`aggregate`'s records.
        resamples: bootstrap resamples per comparison.
        seed: seeds the bootstrap (:func:`paired_statistics`).

    Returns:
        Records with ``method, eval_model, rate, reference`` (``"random"`` or
        ``"best_baseline"``), ``reference_method, seeds, differences`` and
        :func:`paired_statistics`'s keys.
    """
    scorers = {method.name: method.scorer for method in config.methods}
    order = {method.name: position for position, method in enumerate(config.methods)}
    records = []
    for eval_model in config.eval_models:
        for rate in config.rates:
            here = [
                cell
                for cell in cells
                if cell["eval_model"] == eval_model
                and math.isclose(cell["rate"], rate)
                and cell["n"]
                and cell["method"] in order
            ]
            here.sort(key=lambda cell: order[cell["method"]])
            baselines = [cell for cell in here if scorers[cell["method"]] != "duse"]
            references = {
                "random": next((c for c in here if c["method"] == "random"), None),
                "best_baseline": max(baselines, key=lambda c: c["mean"]) if baselines else None,
            }
            for cell in here:
                for kind in REFERENCES:
                    reference = references[kind]
                    if reference is None or reference["method"] == cell["method"]:
                        continue
                    records.append(
                        {
                            "method": cell["method"],
                            "eval_model": eval_model,
                            "rate": rate,
                            "reference": kind,
                            **_paired(cell, reference, resamples, seed),
                        }
                    )
    return records


def _find_cell(cells: list[dict[str, Any]], method: str, eval_model: str, rate: float):
    """:func:`aggregate`'s record of (method, evaluation model, rate)."""
    return next(
        c
        for c in cells
        if c["method"] == method and c["eval_model"] == eval_model and math.isclose(c["rate"], rate)
    )


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _cell_text(cell: dict[str, Any], best: bool) -> str:
    if cell["n"] == 0:
        return "-"
    text = f"{cell['mean']:.2f} ± {cell['std']:.2f}"
    text = f"**{text}**" if best else text
    if cell["paper_mean"] is not None:
        text += f" (paper {cell['paper_mean']:.2f} ± {cell['paper_std']:.2f})"
    return text


def _accuracy_table(config: BenchmarkConfig, cells: list[dict[str, Any]], eval_model: str):
    """Markdown lines: rows = methods, columns = rates, best mean per column in bold."""
    mine = [cell for cell in cells if cell["eval_model"] == eval_model]
    best = {}
    for rate in config.rates:
        means = [c["mean"] for c in mine if c["rate"] == rate and c["n"]]
        best[rate] = max(means) if means else None
    lines = [
        "| method | " + " | ".join(_rate_label(rate) for rate in config.rates) + " |",
        "|---" * (len(config.rates) + 1) + "|",
    ]
    for method in config.methods:
        row = [c for c in mine if c["method"] == method.name]
        texts = [_cell_text(c, c["n"] > 0 and c["mean"] == best[c["rate"]]) for c in row]
        lines.append(f"| {method.name} | " + " | ".join(texts) + " |")
    return lines


def _cross_architecture_table(config: BenchmarkConfig, cells: list[dict[str, Any]]):
    """Markdown lines: rows = methods, columns = evaluation models, at one rate (Table III)."""
    rate = next(
        (r for r in config.rates if math.isclose(r, CROSS_ARCHITECTURE_RATE)), config.rates[0]
    )
    lines = [
        f"## Cross-architecture evaluation at {_rate_label(rate)}",
        "",
        "Each selection (scored by "
        f"`{config.model}`) trained from scratch with every evaluation model.",
        "",
        "| method | " + " | ".join(config.eval_models) + " |",
        "|---" * (len(config.eval_models) + 1) + "|",
    ]
    for method in config.methods:
        texts = []
        for eval_model in config.eval_models:
            cell = _find_cell(cells, method.name, eval_model, rate)
            texts.append(_cell_text(cell, False))
        lines.append(f"| {method.name} | " + " | ".join(texts) + " |")
    return lines


def _time_table(config: BenchmarkConfig, cells: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: mean wall time per cell of selection and of each evaluation training."""
    lines = [
        "## Wall time per cell (seconds, mean over rates and seeds)",
        "",
        "Selection = training the round models, scoring the pool and selecting, all rounds. "
        "Training = training one evaluation model from scratch on the expanded set.",
        "",
        "| method | rounds | selection | "
        + " | ".join(f"training ({m})" for m in config.eval_models)
        + " |",
        "|---" * (len(config.eval_models) + 3) + "|",
    ]
    for method in config.methods:
        row = [c for c in cells if c["method"] == method.name and c["n"]]
        first = [c for c in row if c["eval_model"] == config.eval_models[0]]
        selection = _mean([c["selection_s"] for c in first])
        training = [
            _mean([c["training_s"] for c in row if c["eval_model"] == m])
            for m in config.eval_models
        ]
        texts = ["-" if math.isnan(v) else f"{v:.1f}" for v in (selection, *training)]
        lines.append(f"| {method.name} | {method.rounds} | " + " | ".join(texts) + " |")
    return lines


def _health_table(config: BenchmarkConfig, cells: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: training accuracy of the evaluation and round models, near-chance runs;
    one table per evaluation model."""
    lines = [
        "## Model health (training accuracy %, evaluation model / round models, mean over seeds)",
        "",
        "Measured in eval mode on each model's own training frames. `!n`: n runs with a "
        "near-chance model (training accuracy below 1.5/C or too few predicted classes); their "
        "selection or evaluation says little.",
    ]
    for eval_model in config.eval_models:
        lines += [
            "",
            f"Evaluation model `{eval_model}`:",
            "",
            "| method | " + " | ".join(_rate_label(r) for r in config.rates) + " |",
            "|---" * (len(config.rates) + 1) + "|",
        ]
        for method in config.methods:
            texts = [
                _health_text(_find_cell(cells, method.name, eval_model, rate))
                for rate in config.rates
            ]
            lines.append(f"| {method.name} | " + " | ".join(texts) + " |")
    return lines


def _health_text(cell: dict[str, Any]) -> str:
    if not cell["n"]:
        return "-"
    values = [cell["eval_train_accuracy"], cell["round_train_accuracy"]]
    text = " / ".join("-" if math.isnan(v) else f"{v:.0f}" for v in values)
    flagged = cell["eval_near_chance"] + cell["round_near_chance"]
    return text + (f" !{flagged}" if flagged else "")


def _difference_texts(record: dict[str, Any] | None) -> list[str]:
    """Markdown cells ``[difference, CI, p (wins/losses)]``; a win is bold, a loss italic."""
    if record is None or record["n"] == 0:
        return ["-", "-", "-"]
    difference = f"{record['mean']:+.2f}"
    if record["significant"] == "win":
        difference = f"**{difference}**"
    elif record["significant"] == "loss":
        difference = f"_{difference}_"
    return [
        difference,
        f"[{record['ci_low']:+.2f}, {record['ci_high']:+.2f}]",
        f"{record['sign_p']:.3g} ({record['wins']}/{record['losses']})",
    ]


def _sign_test_floor(seeds: int) -> str:
    """What ``seeds`` pairs let the exact sign test say, as one report line."""
    floor = f"- With {seeds} seed(s) the sign test cannot give p below {2.0 ** (1 - seeds):.3g} "
    if seeds < 6:
        return floor + (
            "(2^(1 - seeds)): it needs 6 seeds to reach p < 0.05, and with this few pairs the "
            "bootstrap CI is coarse, so a CI that excludes 0 is weak evidence."
        )
    wins = next(  # the fewest wins (of ``seeds`` nonzero pairs) that give p < 0.05
        w
        for w in range(seeds // 2, seeds + 1)
        if sign_test_p(np.r_[[1] * w, [-1] * (seeds - w)]) < 0.05
    )
    return floor + f"(2^(1 - seeds)): p < 0.05 needs at least {wins} of {seeds} pairs one way."


def _paired_section(config: BenchmarkConfig, paired: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: the paired differences, one table per evaluation model."""
    seeds = len(config.seeds)
    lines = [
        "## Paired differences",
        "",
        "Method minus reference in accuracy points, paired by seed (same seed = same split and "
        "evaluation seed), mean over the seed pairs; 95 % CI = percentile bootstrap over the "
        f"seed pairs ({BOOTSTRAP_RESAMPLES:,} resamples, seed {BOOTSTRAP_SEED}); p = exact "
        "two-sided sign test (wins/losses over the seeds). **Bold**: CI above 0 (a win); "
        "_italic_: CI below 0. Best baseline = the non-DUSE row with the highest mean at that "
        "rate (random included).",
        _sign_test_floor(seeds),
    ]
    for eval_model in config.eval_models:
        lines += [
            "",
            f"### Evaluated with `{eval_model}`",
            "",
            "| rate | method | vs random | 95 % CI | p (W/L) | best baseline | vs best | 95 % CI "
            "| p (W/L) |",
            "|---" * 9 + "|",
        ]
        for rate in config.rates:
            for method in config.methods:
                found = {
                    record["reference"]: record
                    for record in paired
                    if record["method"] == method.name
                    and record["eval_model"] == eval_model
                    and math.isclose(record["rate"], rate)
                }
                if not found:
                    continue
                best = found.get("best_baseline")
                texts = [
                    _rate_label(rate),
                    method.name,
                    *_difference_texts(found.get("random")),
                    best["reference_method"] if best else "-",
                    *_difference_texts(best),
                ]
                lines.append("| " + " | ".join(texts) + " |")
    return lines


def markdown(
    config: BenchmarkConfig,
    cells: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    figures: list[str],
    paired: list[dict[str, Any]] | None = None,
    same_as: dict[str, str] | None = None,
) -> str:
    """The text of ``results.md``.

    Args:
        config: the benchmark.
        cells: :func:`aggregate`'s records.
        failed: the failed cells, each with ``method, rate, seed, error``.
        figures: names of the figures drawn (linked at the end).
        paired: :func:`paired_differences`'s records (None: computed from ``cells``).
        same_as: ``{method: the method its cells repeat}`` (:func:`same_as_methods`).

    Returns:
        The markdown text.
    """
    if paired is None:
        paired = paired_differences(config, cells)
    dataset = config.paper_dataset()
    mode = "class-balanced" if config.balanced else "class-imbalanced"
    finished = sum(1 for c in cells if c["eval_model"] == config.eval_models[0] and c["n"])
    lines = [
        f"# Benchmark: {config.data}",
        "",
        f"- {len(config.methods)} methods x {len(config.rates)} rates x {len(config.seeds)} "
        f"seeds ({', '.join(map(str, config.seeds))}), {mode}; scorer model `{config.model}`, "
        f"evaluation model(s) {', '.join(f'`{m}`' for m in config.eval_models)}; DUSE "
        f"T = {config.duse_rounds} rounds, baselines one-shot.",
        "- Rate = share of the auxiliary pool added to the target set. Cells: test accuracy "
        "(%), mean ± std over seeds (population std); the best mean per column is bold.",
        f"- {finished} of {len(config.methods) * len(config.rates)} (method, rate) cells "
        f"have runs; {len(failed)} trial(s) failed.",
    ]
    if same_as:
        pairs = ", ".join(f"`{copy}` = `{original}`" for copy, original in same_as.items())
        lines.append(
            f"- Identical cells, computed once and listed under both names (`share_cells`): "
            f"{pairs}."
        )
    if dataset:
        table = "II" if config.balanced else "I"
        lines.append(
            f"- (paper ...) = the DUSE paper's Table {table} value for {dataset} (Table III for "
            "other evaluators), for reference: the paper's data, split and epochs differ."
        )
    for eval_model in config.eval_models:
        lines += ["", f"## Test accuracy (%), evaluated with `{eval_model}`", ""]
        lines += _accuracy_table(config, cells, eval_model)
    if len(config.eval_models) > 1:
        lines += ["", *_cross_architecture_table(config, cells)]
    if paired:
        lines += ["", *_paired_section(config, paired)]
    lines += ["", *_health_table(config, cells)]
    lines += ["", *_time_table(config, cells)]
    if failed:
        lines += ["", "## Failed cells (re-run the same command to resume them)", ""]
        lines += [
            f"- {f['method']} rate {f['rate']:g} seed {f['seed']}: {f['error']}" for f in failed
        ]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{name}](figures/{name}.png)" for name in figures]
    return "\n".join(lines) + "\n"


_PAIRED_COLUMNS = ("mean", "ci_low", "ci_high", "sign_p", "significant")


def _paired_columns(cell: dict[str, Any], paired: list[dict[str, Any]]) -> dict[str, Any]:
    """A cell's paired comparisons as CSV columns ``vs_<reference>_<statistic>``."""
    columns: dict[str, Any] = {}
    for record in paired:
        same = (record["method"], record["eval_model"]) == (cell["method"], cell["eval_model"])
        if not same or not math.isclose(record["rate"], cell["rate"]):
            continue
        prefix = f"vs_{record['reference']}_"
        columns.update({prefix + key: record[key] for key in _PAIRED_COLUMNS})
        if record["reference"] == "best_baseline":
            columns["best_baseline"] = record["reference_method"]
    return columns


def _write_csv(
    path: str,
    cells: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    paired: list[dict[str, Any]],
) -> None:
    """One row per cell (``kind=cell``: mean, std, paired differences) and per run and
    evaluator (``kind=run``)."""
    columns = [
        "kind", "method", "eval_model", "rate", "seed", "n", "accuracy", "std",
        "selection_s", "training_s", "budget", "paper_mean", "paper_std", "best_baseline",
        "same_as", "train_accuracy", "near_chance", "round_train_accuracy", "round_near_chance",
    ]  # fmt: skip
    columns += [f"vs_{kind}_{key}" for kind in REFERENCES for key in _PAIRED_COLUMNS]
    rows = [
        {
            "kind": "cell",
            **{key: cell[key] for key in ("method", "eval_model", "rate", "n", "std")},
            "accuracy": cell["mean"],
            **{key: cell[key] for key in ("selection_s", "training_s", "paper_mean", "paper_std")},
            "train_accuracy": cell["eval_train_accuracy"],
            "near_chance": cell["eval_near_chance"],
            "round_train_accuracy": cell["round_train_accuracy"],
            "round_near_chance": cell["round_near_chance"],
            **_paired_columns(cell, paired),
        }
        for cell in cells
    ]
    for run in runs:
        for eval_model, metrics in run["evaluations"].items():
            rows.append(
                {
                    "kind": "run",
                    **{
                        key: run[key] for key in ("method", "rate", "seed", "selection_s", "budget")
                    },
                    "eval_model": eval_model,
                    "same_as": run.get("same_as"),
                    "n": 1,
                    "accuracy": 100 * metrics["accuracy"],
                    "training_s": metrics["training_s"],
                    **_run_health(run, metrics),
                }
            )
    with text_writer(path) as handle:
        _csv_rows(handle, columns, rows)


def _run_health(run: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """A run's health columns: accuracies in %, round values over its round models."""
    rounds = [r for r in run.get("round_models", []) if r.get("train_accuracy") is not None]
    train = metrics.get("train_accuracy")
    return {
        "train_accuracy": None if train is None else 100 * train,
        "near_chance": metrics.get("near_chance"),
        "round_train_accuracy": _mean([100 * r["train_accuracy"] for r in rounds])
        if rounds
        else None,
        "round_near_chance": any(r["near_chance"] for r in rounds) if rounds else None,
    }


def _csv_rows(handle, columns: list[str], rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(handle, columns)
    writer.writeheader()
    writer.writerows(rows)


def write_report(
    config: BenchmarkConfig,
    runs: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    tsne: TsnePoints | None = None,
) -> str:
    """Write ``results.md``, ``results.csv``, ``results.json`` and ``figures/*.png``.

    ``results.json`` holds ``config, cells, paired`` (:func:`paired_differences`), ``runs`` and
    ``failed``; the CSV's cell rows carry the paired differences as ``vs_random_*`` and
    ``vs_best_baseline_*`` columns.

    Args:
        config: the benchmark.
        runs: the finished cells' records (``engine.benchmark.grid.run_cell``).
        failed: the failed cells, each with ``error``.
        tsne: the t-SNE map (``engine.benchmark.tsne``; None: no t-SNE figure).

    Returns:
        The path of ``results.md``.
    """
    os.makedirs(config.out, exist_ok=True)
    cells = aggregate(config, runs)
    paired = paired_differences(config, cells)
    figures = draw_figures(config, cells, runs, tsne) if config.figures and runs else []
    body = {
        "config": config.to_dict(),
        "cells": cells,
        "paired": paired,
        "runs": runs,
        "failed": failed,
    }
    write_json(os.path.join(config.out, "results.json"), body, indent=1, default=_json_default)
    _write_csv(os.path.join(config.out, "results.csv"), cells, runs, paired)
    path = os.path.join(config.out, "results.md")
    write_text(path, markdown(config, cells, failed, figures, paired, same_as_methods(runs)))
    return path


def same_as_methods(runs: list[dict[str, Any]]) -> dict[str, str]:
    """``{method: the method it repeats}`` for the methods with cells copied from another's
    (``same_as``, written by the grid for identical cells)."""
    return {run["method"]: run["same_as"] for run in runs if run.get("same_as")}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def draw_figures(
    config: BenchmarkConfig,
    cells: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    tsne: TsnePoints | None = None,
) -> list[str]:
    """Draw the figures into ``<out>/figures``; returns the names drawn."""
    from engine.benchmark import figures

    directory = os.path.join(config.out, "figures")
    os.makedirs(directory, exist_ok=True)
    rate = max(config.rates)
    figures.accuracy_vs_rate(os.path.join(directory, "accuracy_vs_rate.png"), config, cells)
    figures.selected_per_class(
        os.path.join(directory, "selected_per_class.png"), config, runs, rate
    )
    if tsne is not None:
        figures.tsne(os.path.join(directory, "tsne.png"), config, tsne, rate)
    figures.accuracy_per_snr(os.path.join(directory, "accuracy_per_snr.png"), config, cells, runs)
    return [name for name in FIGURE_NAMES if tsne is not None or name != "tsne"]
