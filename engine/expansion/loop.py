"""The DUSE loop: grow a small target set from the auxiliary pool in T rounds, with resume.

::

    split -> target T0, pool A0
    for round t in 1..T:
        model_t = fit(model, T_{t-1})               # in-process or Ray Train
        S_t = select(score(model_t, A0 \\ selected), k_t, balanced?)
        write rounds/round-t                         # atomic; a restart resumes after it
        T_t = T_{t-1} + S_t
    fit(eval_model, T_T) from scratch; accuracy on the test split

T=1 is a one-shot baseline. The budget is an *expansion rate* (a fraction of the auxiliary pool
A0, the default) or an absolute count; ``k_t = budget // T``, the first ``budget % T`` rounds
taking one more. Every random draw is seeded from ``(seed, round)``, so a run stopped at any
point and restarted on the same run directory ends with exactly the selection of an
uninterrupted run. docs/expansion.md describes the run directory and the YAML config.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from engine._internal import seeds
from engine._internal.run_lock import run_lock
from engine._internal.seeds import Stream
from engine.data.align import build_working_set, in_snr_window
from engine.data.schema import DatasetMeta, Frames
from engine.data.splits import (
    Split,
    check_split_dataset,
    make_own_split,
    with_dataset,
)
from engine.data.store import read_frames, read_index, read_meta, read_parquet
from engine.expansion.config import ExpandConfig
from engine.expansion.rounds import (
    Run,
    make_scorer,
    run_round,
    selected_ids,
    validate,
)
from engine.expansion.run_dir import (
    MODEL_NAME,
    RoundRecord,
    RunDirectory,
    alignment_summary,
    check_existing_run,
    check_out_is_not_a_dataset,
    claim_run_directory,
    read_rounds,
    remove_run_staging,
    write_manifest,
    write_round,
)
from engine.expansion.summary import summary_markdown
from engine.training import evaluate, fit, read_finite_frames

log = logging.getLogger(f"duse.{__name__}")


@dataclass(frozen=True)
class ExpansionResult:
    """What :func:`expand` produced (everything is also in the run directory).

    Attributes:
        run_dir: the run directory URI.
        target_ids: final target set (initial target plus every selection), sorted.
        selected_ids: every selected id in manifest order (round, then rank).
        manifest: the manifest columns (``id, round, rank, score, label, snr``).
        metrics: the content of ``metrics.json``.
    """

    run_dir: str
    target_ids: np.ndarray
    selected_ids: np.ndarray
    manifest: dict[str, np.ndarray]
    metrics: dict[str, Any]


def _load_or_make_split(
    run: RunDirectory, config: ExpandConfig, data: str, index: Frames, meta: DatasetMeta
) -> Split:
    """The run directory's split when resuming, else the configured file, else a new one."""
    if run.exists("splits.json") or config.split.file:
        where = f"{run.uri}/splits.json" if run.exists("splits.json") else config.split.file
        split = Split.load(where)
        check_split_dataset(split, meta, f"split file {where}")
        _check_split(split, index)
        return split
    if config.sources() is not None:
        provenance = read_frames(data, with_iq=False, extra=True)
        split = make_own_split(
            provenance,
            meta.num_classes,
            test=config.split.test,
            seed=config.seed,
            classes=meta.classes,
        )
        log.info(
            "split: test %d (%s), target %d, pool %d",
            len(split.test_ids),
            "the test set"
            if config.test
            else f"{split.params['test_per_class']} per class carved from the target",
            len(split.target_ids),
            len(split.pool_ids),
        )
    else:
        split = config.split.make(index, meta.num_classes, config.seed)
        split = _pool_snr_window(split, index, config)
    split = with_dataset(split, meta)
    _check_split(split, index)
    return split


def _pool_snr_window(split: Split, index: Frames, config: ExpandConfig) -> Split:
    """One-dataset mode: the pool without frames outside ``pool_snr_min_db/max_db``."""
    low, high = config.pool_snr_min_db, config.pool_snr_max_db
    if low is None and high is None:
        return split
    keep = in_snr_window(index.snr_db[np.searchsorted(index.ids, split.pool_ids)], low, high)
    log.info(
        "pool SNR window [%s, %s] dB keeps %d of %d pool frames", low, high, keep.sum(), len(keep)
    )
    params = {**split.params, "pool_snr_min_db": low, "pool_snr_max_db": high}
    return replace(split, pool_ids=split.pool_ids[keep], params=params)


def _prepare_data(run_dir: RunDirectory, config: ExpandConfig) -> str:
    """The dataset the run trains and scores on: ``data``, or the own-data working set."""
    sources = config.sources()
    if sources is None:
        return config.data
    working = build_working_set(sources, f"{run_dir.uri}/data")
    run_dir.write_json("alignment.json", working.report)
    return working.uri


def _check_split(split: Split, index: Frames) -> None:
    """Disjoint parts, every id in the dataset, a non-empty target and pool.

    Raises:
        ValueError: naming the overlap or the missing ids.
    """
    parts = {"test": split.test_ids, "target": split.target_ids, "pool": split.pool_ids}
    for name, ids in parts.items():
        if len(np.unique(ids)) != len(ids):
            raise ValueError(f"split: the {name} ids repeat")
        missing = np.setdiff1d(ids, index.ids)
        if len(missing):
            raise ValueError(
                f"split: {len(missing)} {name} ids are not in the dataset, e.g. "
                f"{missing[:5].tolist()}"
            )
    for first, second in (("pool", "test"), ("pool", "target"), ("target", "test")):
        shared = np.intersect1d(parts[first], parts[second])
        if len(shared):
            raise ValueError(
                f"split: {len(shared)} {first} ids are also {second} ids, e.g. "
                f"{shared[:5].tolist()}"
            )
    for name in ("target", "pool"):
        if len(parts[name]) == 0:
            raise ValueError(f"split: the {name} set is empty")


def expand(
    config: ExpandConfig,
    *,
    on_round_end: Callable[[RoundRecord], None] | None = None,
    score_cache: str | None = None,
) -> ExpansionResult:
    """Run (or resume) the expansion loop and write the run directory.

    All input checks (scorer, model, budget, split) run before any training. A run directory
    that already holds rounds of the same config is resumed after its last completed round; one
    holding a different config is refused.

    Args:
        config: the run.
        on_round_end: called after each round is written (progress reports, Tune); an
            exception raised there stops the run with everything so far kept.
        score_cache: a directory URI of first-round pool scores shared between runs (the cells
            of a benchmark, :mod:`engine.expansion.score_cache`): a first round whose model
            inputs, score function and pool match a stored entry selects from it instead of
            scoring the pool; the selection is the same (None: no cache).

    Returns:
        The final target set, the manifest and the metrics.

    Raises:
        KeyError: unknown scorer, model or config key.
        ValueError: a bad budget, rate, split or config, a run directory of another config,
            an ``out`` inside a dataset, or another run holding ``out`` (its lock).
    """
    run_dir = RunDirectory(config.out)
    make_scorer(config)  # an unknown scorer fails before anything is read or written
    check_out_is_not_a_dataset(config)
    resuming = check_existing_run(run_dir, config)
    if config.sources() is None:
        # every check; nothing written yet
        run, sizes = _plan(run_dir, config, config.data, score_cache)
        with run_lock(config.out):
            return _execute(run, run_dir, sizes, resuming, on_round_end)
    with run_lock(config.out):  # own data: the working set is the first thing written
        run, sizes = _plan(run_dir, config, _prepare_data(run_dir, config), score_cache)
        return _execute(run, run_dir, sizes, resuming, on_round_end)


def _plan(
    run_dir: RunDirectory, config: ExpandConfig, data: str, score_cache: str | None = None
) -> tuple[Run, list[int]]:
    """The run's dataset, split and round sizes, every check done (nothing is written)."""
    meta = read_meta(data)
    index = read_index(data)
    index = index.take(np.argsort(index.ids, kind="stable"))
    split = _load_or_make_split(run_dir, config, data, index, meta)
    sizes = validate(config, meta, index, split)
    read_finite_frames(data, split.target_ids)  # test and pool are checked as they stream
    return Run(config, data, meta, index, split, score_cache), sizes


def _execute(run: Run, run_dir: RunDirectory, sizes: list[int], resuming: bool, on_round_end):
    """The rounds not done yet, then the final evaluation and report (lock held)."""
    config, split = run.config, run.split
    remove_run_staging(run_dir)
    claim_run_directory(run_dir, config, split)
    records = read_rounds(run_dir, sizes)
    if resuming:
        log.info("resuming %s after round %d of %d", config.out, len(records), len(sizes))
    for round_index in range(len(records) + 1, len(sizes) + 1):
        selected = selected_ids(records)
        target = np.sort(np.concatenate([split.target_ids, selected]))
        log.info(
            "round %d/%d: target %d, pool %d, selecting %d with %s",
            round_index,
            len(sizes),
            len(target),
            len(split.pool_ids) - len(selected),
            sizes[round_index - 1],
            config.scorer,
        )
        record = run_round(run, round_index, sizes[round_index - 1], target, selected)
        write_round(run_dir, record)
        records.append(record)
        write_manifest(run_dir, records, run.data, run.meta)
        log.info("round %d/%d done in %.1f s", round_index, len(sizes), record.metrics["seconds"])
        if on_round_end is not None:
            on_round_end(record)
    write_manifest(run_dir, records, run.data, run.meta)
    return _finish(run, run_dir, records)


def _finish(run: Run, run_dir: RunDirectory, records: list[RoundRecord]) -> ExpansionResult:
    """Final evaluation (unless done before), ``metrics.json`` and ``summary.md``."""
    config = run.config
    selected = selected_ids(records)
    target = np.sort(np.concatenate([run.split.target_ids, selected]))
    previous = run_dir.read_json("metrics.json") if run_dir.exists("metrics.json") else {}
    final = previous.get("final")
    if config.evaluate and final is None:
        final = _evaluate_final(run, target)
    metrics = {
        "scorer": config.scorer,
        "model": config.model,
        "eval_model": config.eval_model or config.model,
        "balanced": config.balanced,
        "rounds": [record.metrics for record in records],
        "budget": int(sum(len(record.rows.ids) for record in records)),
        "rate": config.rate,
        "pool_size": len(run.split.pool_ids),
        "initial_target_size": len(run.split.target_ids),
        "final_target_size": len(target),
        "test_size": len(run.split.test_ids),
        "sources": config.sources().uris() if config.sources() else {"data": config.data},
        "alignment": alignment_summary(run_dir),
        "final": final,
        "complete": True,
    }
    run_dir.write_json("metrics.json", metrics)
    run_dir.write("summary.md", summary_markdown(config, metrics).encode())
    table = read_parquet(io.BytesIO(run_dir.read("manifest.parquet")))
    manifest = {name: table.column(name).to_numpy() for name in table.column_names}
    return ExpansionResult(config.out, target, selected, manifest, metrics)


def _evaluate_final(run: Run, target: np.ndarray) -> dict[str, Any]:
    config = run.config
    seed = seeds.derived_seed(config.seed, 0, Stream.EVALUATION)
    train = replace(config.eval_train or config.train, seed=seed)
    eval_model = config.eval_model or config.model
    log.info("evaluating: training %s on %d frames", eval_model, len(target))
    result = fit(eval_model, run.data, target, train)
    result.save(f"{config.out.rstrip('/')}/{MODEL_NAME}")  # the model to take away
    metrics = evaluate(result, run.data, run.split.test_ids, batch_size=config.scoring.batch_size)
    log.info("test accuracy %.4f on %d frames", metrics["accuracy"], metrics["n"])
    predicted = np.flatnonzero(np.asarray(metrics["confusion"]).sum(0))  # columns = predicted
    warnings = [result.quality["warning"]] if result.quality["warning"] else []
    if len(predicted) == 1:
        warnings.append(
            f"predicts a single class on the test set ({metrics['classes'][predicted[0]]})"
        )
    for warning in warnings:
        log.warning("the evaluation model %s", warning)
    metrics["model_quality"] = result.quality
    metrics["test_predicted_classes"] = len(predicted)
    metrics["warnings"] = warnings
    return metrics
