"""The benchmark: DUSE against the coreset baselines as a Ray Tune grid (docs/benchmark.md).

A grid of *cells* (method x expansion rate x seed). One cell is one expansion run
(:func:`engine.expansion.expand`: DUSE with its rounds, baselines one-shot) followed by training
each evaluation model from scratch on the expanded set and testing it. Every cell is one Tune
trial; the driver then aggregates the cells into ``results.md``/``.csv``/``.json`` and figures
(:mod:`engine.benchmark.report`).

Work shared between cells is done once in the driver before any trial starts: the dataset is
generated once, and one split per seed is written to ``<out>/splits/seed-<s>.json`` and used by
every cell of that seed. All input checks run before the first trial as well. Inside the
trials, round models are shared through ``<out>/fit_cache`` and first-round pool scores through
``<out>/score_cache`` (``share_scores``): one scoring pass per seed and score function, every
rate selecting its budget from it. Identical cells (``share_cells``: the same expansion but for
the method's name, e.g. ``duse_no_al`` and ``margin``) run once; the others get the record with
``same_as``. Each cell writes
``<out>/cells/<method>/rate-<r>/seed-<s>/cell.json`` last; running the same config again skips
finished cells and resumes unfinished expansion runs after their last complete round, so failed
trials are reported and resumed by re-running. A run of another config in the same ``<out>``
(``<out>/config.yaml``) is refused before anything is written; only :data:`RESUMABLE_CHANGES`
may differ.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import yaml

import models
from engine._internal import seeds
from engine._internal.atomic import write_json, write_text
from engine._internal.resume import CONFIG_NAME, check_resumable, stored_config
from engine._internal.seeds import Stream
from engine.benchmark.config import BenchmarkConfig, sources_of, validate
from engine.benchmark.report import write_report
from engine.benchmark.tsne import tsne_points
from engine.data.align import build_working_set
from engine.data.splits import Split, make_own_split, with_dataset
from engine.data.store import read_frames, read_index, read_meta
from engine.expansion import ExpandConfig, SplitSpec, budget_size, expand
from engine.expansion.rounds import scorer_params
from engine.expansion.score_cache import score_identity
from engine.training import evaluate, fit

log = logging.getLogger(f"duse.{__name__}")

# Keys that may differ when a benchmark resumes in the same ``out``: they cannot change a
# finished cell's result. ``out`` is where the run lives, ``scoring`` only how the pool is
# scored (as for expand), ``tune`` how the trials are scheduled; ``figures``, ``paper`` and
# ``tsne_reference_frames`` only shape the report and its figures, drawn anew by every run.
# Everything else (data, split, methods, rates, seeds, models, training) is compared.
# ``share_scores`` and ``share_cells`` only decide whether identical work is done once.
RESUMABLE_CHANGES = (
    "out",
    "scoring",
    "tune",
    "figures",
    "paper",
    "tsne_reference_frames",
    "share_scores",
    "share_cells",
)


@dataclass(frozen=True)
class BenchmarkResult:
    """What :func:`run_benchmark` produced (everything is also under ``out``).

    Attributes:
        out: the output directory.
        runs: one record per finished cell (``cell.json``'s content).
        failed: the cells whose trial failed, each with its error text.
        table: the markdown of ``results.md``.
        report: the path of ``results.md``.
    """

    out: str
    runs: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    table: str
    report: str


def _make_split(config: BenchmarkConfig, meta, seed: int) -> Split:
    if config.target:
        index = read_frames(config.data, with_iq=False, extra=True)
        split = make_own_split(
            index, meta.num_classes, test=config.split.test, seed=seed, classes=meta.classes
        )
    else:
        split = config.split.make(read_index(config.data), meta.num_classes, seed)
    return with_dataset(split, meta)


def prepare(config: BenchmarkConfig, *, reuse_splits: bool = True) -> dict[int, str]:
    """Generate the data if asked, write one split per seed, check every cell's budget.

    Args:
        config: the benchmark.
        reuse_splits: keep a seed's existing ``splits/seed-<s>.json`` (the directory holds a
            run of this config); False makes it again (left by a run that never started).

    Returns:
        ``{seed: splits.json path}``.
    """
    from engine.data.generate import ensure_generated

    if config.generate is not None:
        spec = config.generate
        ensure_generated(config.data, spec.profile, scale=spec.scale, seed=spec.seed)
    meta = read_meta(config.data)
    for name in {config.model, *config.eval_models}:
        if meta.length < models.model_spec(name).min_length:
            raise ValueError(f"model {name!r} cannot take frames of L={meta.length}")
    splits = {}
    for seed in config.seeds:
        uri = os.path.join(config.out, "splits", f"seed-{seed}.json")
        if not (reuse_splits and os.path.exists(uri)):
            _make_split(config, meta, seed).save(uri)
        splits[seed] = uri
        pool_size = len(Split.load(uri).pool_ids)
        for cell in config.cells():
            if cell["seed"] == seed:
                budget_size(expand_config(config, cell, uri), pool_size)
    return splits


def cell_dir(config: BenchmarkConfig, cell: dict[str, Any]) -> str:
    """The directory of one cell's outputs."""
    return os.path.join(
        config.out, "cells", cell["method"], f"rate-{cell['rate']:g}", f"seed-{cell['seed']}"
    )


def record_path(config: BenchmarkConfig, cell: dict[str, Any]) -> str:
    """``cell.json``: written last, so its presence marks the cell finished."""
    return os.path.join(cell_dir(config, cell), "cell.json")


def finished_record(config: BenchmarkConfig, cell: dict[str, Any]) -> dict[str, Any] | None:
    """The cell's ``cell.json`` record when the cell finished, else None."""
    path = record_path(config, cell)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def expand_config(config: BenchmarkConfig, cell: dict[str, Any], split_file: str):
    method = config.method(cell["method"])
    return ExpandConfig(
        data=config.data,
        out=os.path.join(cell_dir(config, cell), "expansion"),
        scorer=method.scorer,
        scorer_params=dict(method.params),
        model=config.model,
        rounds=method.rounds,
        rate=cell["rate"],
        balanced=config.balanced,
        seed=cell["seed"],
        split=SplitSpec(file=split_file),
        train=config.train,
        evaluate=False,
        scoring=config.scoring,
        fit_cache=os.path.join(config.out, "fit_cache"),
    )


def score_cache_dir(config: BenchmarkConfig) -> str | None:
    """``<out>/score_cache``, the first-round pool scores shared by the cells (None: off)."""
    return os.path.join(config.out, "score_cache") if config.share_scores else None


def cell_key(cell: dict[str, Any]) -> tuple[str, float, int]:
    return cell["method"], cell["rate"], cell["seed"]


def cell_signature(config: BenchmarkConfig, cell: dict[str, Any], split_file: str) -> str:
    """What a cell computes: its expansion config without the output directory, the scorer and
    parameters as the score function they name (``duse`` smallest-first is ``margin``)."""
    expansion = expand_config(config, cell, split_file)
    scorer, params = score_identity(expansion.scorer, scorer_params(expansion))
    values = {**expansion.to_dict(), "out": None, "scorer": scorer, "scorer_params": params}
    return json.dumps(values, sort_keys=True, default=repr)


def identical_cells(
    config: BenchmarkConfig, cells: list[dict[str, Any]], splits: dict[int, str]
) -> dict[tuple[str, float, int], dict[str, Any]]:
    """``{cell key: the earlier cell it repeats}`` for every cell whose signature
    (:func:`cell_signature`) an earlier cell of the grid has; only the first one runs."""
    first: dict[str, dict[str, Any]] = {}
    repeats = {}
    for cell in cells:
        original = first.setdefault(cell_signature(config, cell, splits[cell["seed"]]), cell)
        if original is not cell:
            repeats[cell_key(cell)] = original
    return repeats


def write_repeats(
    config: BenchmarkConfig,
    cells: list[dict[str, Any]],
    repeats: dict[tuple[str, float, int], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Write each unfinished repeated cell's ``cell.json``: its original's record under its own
    method name and scorer, with ``same_as`` naming the original's method.

    Returns:
        The repeated cells whose original did not finish, as failed cells.
    """
    failed = []
    for cell in cells:
        original = repeats.get(cell_key(cell))
        if original is None or finished_record(config, cell) is not None:
            continue
        record = finished_record(config, original)
        if record is None:
            failed.append({**cell, "error": f"same as {original['method']}, which did not finish"})
            continue
        scorer = config.method(cell["method"]).scorer
        copy = {**record, **cell, "scorer": scorer, "same_as": original["method"]}
        write_json(record_path(config, cell), copy, indent=1)
    return failed


def trial_order(config: BenchmarkConfig, cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cells in the order Tune starts them: seed by seed (whole seeds finish first), then
    rate by rate, so trials running at once score different functions and a later rate finds
    its first round's scores stored."""
    methods = [method.name for method in config.methods]

    def position(cell: dict[str, Any]) -> tuple[int, int, int]:
        seed, rate = config.seeds.index(cell["seed"]), config.rates.index(cell["rate"])
        return seed, rate, methods.index(cell["method"])

    return sorted(cells, key=position)


def eval_seed(seed: int, model_index: int) -> int:
    """Training seed of evaluation model ``model_index`` in a cell of ``seed``."""
    return seeds.derived_seed(seed, Stream.EVALUATION, model_index)


def model_health(quality: dict[str, Any] | None) -> dict[str, Any]:
    """``train_accuracy`` (eval mode, on the model's own training frames) and ``near_chance``
    (``training.learning_warning`` fired) of a fit's quality; None where it was not recorded
    (a round model from an older fit cache)."""
    if not quality:
        return {"train_accuracy": None, "near_chance": None}
    return {
        "train_accuracy": round(quality["train_accuracy"], 4),
        "near_chance": quality["warning"] is not None,
    }


def run_cell(config: BenchmarkConfig, cell: dict[str, Any], split_file: str) -> dict[str, Any]:
    """One cell: expand (or resume), then train and test every evaluation model.

    A finished cell (its ``cell.json`` exists) is read back, not recomputed.

    Args:
        config: the benchmark.
        cell: ``{"method", "rate", "seed"}``.
        split_file: the seed's ``splits.json``.

    Returns:
        The cell record: the cell's keys, ``scorer``, ``rounds``, ``budget``, sizes,
        ``selected_per_class`` (selected samples per class), ``selection_s`` (the rounds' wall
        time: training the round models, scoring, selecting), ``round_models`` (per round:
        ``round, train_accuracy, near_chance``) and ``evaluations`` (``{model: {accuracy,
        per_snr, per_class, n, train_accuracy, near_chance, training_s}}``).
    """
    finished = finished_record(config, cell)
    if finished is not None:
        return finished
    expansion = expand(expand_config(config, cell, split_file), score_cache=score_cache_dir(config))
    test_ids = Split.load(split_file).test_ids
    num_classes = read_meta(config.data).num_classes
    evaluations = {}
    for model_index, name in enumerate(config.eval_models):
        train = replace(
            config.eval_train or config.train, seed=eval_seed(cell["seed"], model_index)
        )
        start = time.perf_counter()
        weights = fit(name, config.data, expansion.target_ids, train)
        training_s = time.perf_counter() - start
        metrics = evaluate(weights, config.data, test_ids, batch_size=config.scoring.batch_size)
        metrics.pop("confusion", None)
        health = model_health(weights.quality)
        if health["near_chance"]:
            label, warning = cell_label({"cell": cell}), weights.quality["warning"]
            log.warning("%s: evaluation model %s %s", label, name, warning)
        evaluations[name] = {**metrics, **health, "training_s": round(training_s, 3)}
    method = config.method(cell["method"])
    record = {
        **cell,
        "scorer": method.scorer,
        "rounds": method.rounds,
        "budget": expansion.metrics["budget"],
        "pool_size": expansion.metrics["pool_size"],
        "final_target_size": expansion.metrics["final_target_size"],
        "selected_per_class": np.bincount(
            expansion.manifest["label"].astype(np.int64), minlength=num_classes
        ).tolist(),
        "selection_s": round(sum(r["seconds"] for r in expansion.metrics["rounds"]), 3),
        "round_models": [
            {"round": r["round"], **model_health(r.get("model_quality"))}
            for r in expansion.metrics["rounds"]
        ],
        "evaluations": evaluations,
        "manifest": os.path.join(expansion.run_dir, "manifest.parquet"),
    }
    write_json(record_path(config, cell), record, indent=1)
    return record


def cell_trial(params: dict[str, Any], benchmark: dict[str, Any], splits: dict[int, str]) -> None:
    """Tune trainable: one cell; reports the first evaluation model's accuracy.

    The runner (``engine._internal.tune_runner``) has configured this process's logging like
    the driver's, so the cell's per-round lines reach the driver's console.
    """
    from ray import tune

    config = BenchmarkConfig.from_dict(benchmark)
    cell = params["cell"]
    record = run_cell(config, cell, splits[cell["seed"]])
    first = record["evaluations"][config.eval_models[0]]
    tune.report({"accuracy": first["accuracy"], "cell": cell_dir(config, cell)})


def run_grid(
    config: BenchmarkConfig, cells: list[dict[str, Any]], splits: dict[int, str]
) -> list[dict[str, Any]]:
    """``cells`` as Tune trials (actors reused across trials); returns the failed cells, each
    with its one-line ``error`` (a failed cell never stops the others)."""
    from ray import tune

    from engine._internal.tune_runner import run_trials

    log.info("benchmark: %d cells to run", len(cells))
    outcome = run_trials(
        cell_trial,
        {"cell": tune.grid_search(trial_order(config, cells))},
        name="benchmark",
        storage_path=os.path.abspath(os.path.join(config.out, "tune")),
        cpus_per_trial=config.tune.cpus_per_trial,
        max_concurrent_trials=config.tune.max_concurrent_trials,
        parameters={"benchmark": config.to_dict(), "splits": splits},
        label=cell_label,
        reuse_actors=True,
        max_failures=config.tune.max_failures,
    )
    return [{**failure.config["cell"], "error": failure.error} for failure in outcome.failures]


def cell_label(params: dict[str, Any]) -> str:
    """A trial's cell as the report names it (``duse rate 0.1 seed 0``)."""
    cell = params["cell"]
    return f"{cell['method']} rate {cell['rate']:g} seed {cell['seed']}"


def absolute_paths(config: BenchmarkConfig) -> BenchmarkConfig:
    """Local paths made absolute: Tune runs each trial in its own working directory."""

    def absolute(uri: str | None) -> str | None:
        return uri if uri is None or "://" in uri else os.path.abspath(uri)

    paths = {key: absolute(getattr(config, key)) for key in ("data", "target", "pool", "test")}
    return replace(config, **paths, out=os.path.abspath(config.out))


def run_benchmark(
    config: BenchmarkConfig, *, on_prepared: Callable[[], None] | None = None
) -> BenchmarkResult:
    """Run (or resume) the benchmark grid on Ray Tune and write the report.

    Every check runs before the first trial. Failed trials do not stop the others; they are
    listed in the report and in the result, and running the same config again resumes them.
    An ``out`` holding a run of another config is refused before anything is written (only
    :data:`RESUMABLE_CHANGES` may differ).

    Args:
        config: the benchmark.
        on_prepared: called once the data and splits exist, before the first trial.

    Returns:
        The runs, the failed cells, the results table and the report path.

    Raises:
        KeyError: unknown scorer, model or config key.
        ValueError: an empty grid, a rate outside (0, 1], a budget a pool cannot give, an
            ``out`` holding a run of another config, ...
    """
    validate(config)
    config = absolute_paths(config)
    if config.target:  # own data: the cells run on one working set in the target's classes
        config = replace(config, data=os.path.join(config.out, "data"))
    stored = stored_config(config.out, BenchmarkConfig.from_dict)
    resuming = check_resumable(config.out, stored, config.to_dict(), RESUMABLE_CHANGES)
    if config.target:
        build_working_set(sources_of(config), config.data)
    splits = prepare(config, reuse_splits=resuming)
    if on_prepared is not None:
        on_prepared()
    config_yaml = yaml.safe_dump(config.to_dict(), sort_keys=False)
    write_text(os.path.join(config.out, CONFIG_NAME), config_yaml)
    cells = config.cells()
    repeats = identical_cells(config, cells, splits) if config.share_cells else {}
    unfinished = [cell for cell in cells if finished_record(config, cell) is None]
    pending = [cell for cell in unfinished if cell_key(cell) not in repeats]
    log.info(
        "benchmark: %d of %d cells already finished, %d repeat another cell",
        len(cells) - len(unfinished),
        len(cells),
        len(unfinished) - len(pending),
    )
    failed = run_grid(config, pending, splits) if pending else []
    failed += write_repeats(config, cells, repeats)
    runs = [record for cell in cells if (record := finished_record(config, cell)) is not None]
    tsne = tsne_points(config, runs, splits) if config.figures and runs else None
    report = write_report(config, runs, failed, tsne)
    with open(report) as handle:
        table = handle.read()
    return BenchmarkResult(config.out, runs, failed, table, report)
