"""One round of the loop: fit the round model, score the pool by the scorer's kind, select."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from dataclasses import asdict, replace

import numpy as np
import torch

import models
from engine._internal import seeds
from engine._internal.seeds import Stream
from engine.data.schema import DatasetMeta, Frames
from engine.data.splits import (
    Split,
)
from engine.data.store import read_frames
from engine.expansion import score_cache
from engine.expansion.budget import budget_size, round_sizes
from engine.expansion.config import ExpandConfig
from engine.expansion.run_dir import RoundRecord, RunDirectory
from engine.model_outputs import check_model_provides, compute_outputs
from engine.scoring import (
    SelectedRows,
    pool_outputs,
    score_and_select,
    score_pool,
)
from engine.selection import select, select_set
from engine.training import FitResult, TrainConfig, fit
from scorers import (
    DynamicsScorer,
    ModelOutputs,
    Scorer,
    SetSelector,
    average_repeats,
    checked_dynamics_score,
    checked_observe,
    get_scorer,
    scorer_class,
)

log = logging.getLogger(f"duse.{__name__}")


def scorer_params(config: ExpandConfig) -> dict:
    """The scorer's parameters as the run passes them.

    A scorer that takes a ``seed`` (``random``) gets the run's seed unless its parameters give
    one, so seeds of a benchmark draw different subsets even from the same pool.

    Raises:
        KeyError: an unknown scorer.
    """
    params = dict(config.scorer_params)
    if "seed" in inspect.signature(scorer_class(config.scorer)).parameters:
        params.setdefault("seed", config.seed)
    return params


def make_scorer(config: ExpandConfig) -> Scorer:
    """A fresh scorer instance; parameter problems become ``ValueError``s naming the scorer."""
    params = scorer_params(config)
    try:
        return get_scorer(config.scorer, **params)
    except TypeError as error:
        raise ValueError(str(error)) from None


def validate(config: ExpandConfig, meta: DatasetMeta, index: Frames, split: Split) -> list[int]:
    """Every check that needs no model training; returns the round sizes.

    Raises:
        KeyError: unknown scorer or model. ValueError: anything else, naming the key.
    """
    scorer = make_scorer(config)
    for name in {config.model, config.eval_model or config.model}:
        spec = models.model_spec(name)
        if meta.length < spec.min_length:
            raise ValueError(
                f"model {name!r} needs frames of >= {spec.min_length} samples, "
                f"the dataset has L={meta.length}"
            )
    with torch.random.fork_rng():
        probe = models.build(config.model, meta.num_classes, meta.length)
    try:
        check_model_provides(probe, scorer.needs, scorer.name)
    except TypeError as error:
        raise ValueError(str(error)) from None
    sizes = round_sizes(budget_size(config, len(split.pool_ids)), config.rounds)
    if config.balanced:
        _check_balanced_budget(sizes, index, split, meta)
    return sizes


def _check_balanced_budget(
    sizes: list[int], index: Frames, split: Split, meta: DatasetMeta
) -> None:
    """Each class must hold enough pool rows for its largest quota in every round."""
    labels = index.labels[np.searchsorted(index.ids, split.pool_ids)]
    counts = np.bincount(labels, minlength=meta.num_classes)
    needed = sum(-(-k // meta.num_classes) for k in sizes)
    short = np.flatnonzero(counts < needed)
    if len(short):
        name = meta.classes[short[0]]
        raise ValueError(
            f"class-balanced budget needs up to {needed} pool samples of class {name!r}, the "
            f"pool holds {int(counts[short[0]])}"
        )


class Run:
    """State shared by the rounds of one :func:`expand` call."""

    def __init__(
        self,
        config: ExpandConfig,
        data: str,
        meta: DatasetMeta,
        index: Frames,
        split: Split,
        score_cache: str | None = None,
    ):
        self.config = config
        self.data = data  # ``config.data``, or the own-data working set
        self.meta = meta
        self.index = index
        self.split = split
        self.score_cache = score_cache  # first-round pool scores shared between runs

    def train_config(self, round_index: int, stream: int = 0, epochs: int | None = None):
        seed = seeds.derived_seed(self.config.seed, round_index, stream)
        train = replace(self.config.train, seed=seed)
        return train if epochs is None else replace(train, epochs=epochs)

    def fit(self, target_ids: np.ndarray, train: TrainConfig) -> FitResult:
        """A round model: trained, or loaded from ``fit_cache`` when trained there before."""
        if self.config.fit_cache is None:
            return fit(self.config.model, self.data, target_ids, train)
        key = json.dumps([self.config.model, self.data, asdict(train)], sort_keys=True)
        digest = hashlib.sha256(key.encode() + np.asarray(target_ids, np.int64).tobytes())
        cache = RunDirectory(self.config.fit_cache)
        name = f"{digest.hexdigest()[:32]}.pt"
        if cache.exists(name):
            return FitResult.load(f"{cache.uri}/{name}")
        result = fit(self.config.model, self.data, target_ids, train)
        result.save(f"{cache.uri}/{name}")
        return result

    def rows_of(self, ids: np.ndarray, scores: np.ndarray) -> SelectedRows:
        positions = np.searchsorted(self.index.ids, ids)
        return SelectedRows(
            ids,
            self.index.labels[positions].astype(np.int64),
            self.index.snr_db[positions],
            scores,
        )


def _select_scores(
    run: Run, scores: SelectedRows, k: int, rng: np.random.Generator
) -> SelectedRows:
    chosen = select(
        scores.ids,
        scores.scores,
        scores.labels,
        k,
        balanced=run.config.balanced,
        num_classes=run.meta.num_classes,
        rng=rng,
    )
    return run.rows_of(chosen, scores.scores[np.searchsorted(scores.ids, chosen)])


def _observed(run: Run, scorer: Scorer, target: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """The ids the selection model trains on: the target set, or the remaining pool for a
    scorer that observes the pool (``Scorer.observed_set``)."""
    if scorer.observed_set == "pool":
        return np.setdiff1d(run.split.pool_ids, selected)
    return target


def _single_model(scorer: Scorer) -> bool:
    """Whether a pointwise scorer scores with the round model itself (no repeat models)."""
    return scorer.repeats == 1 and scorer.warmup_epochs is None


def _pointwise_round(run: Run, scorer, target, selected, k, round_index, rng):
    """Fit, then score and select in one streaming pass (repeats: averaged full scores)."""
    config = run.config
    if not _single_model(scorer):
        pool, model = _pointwise_scores(run, scorer, target, selected, round_index)
        return _select_scores(run, pool, k, rng), model
    model = run.fit(target, run.train_config(round_index))
    rows = score_and_select(
        model,
        run.data,
        run.split.pool_ids,
        scorer,
        k,
        balanced=config.balanced,
        num_classes=run.meta.num_classes,
        rng=rng,
        config=config.scoring,
        exclude=selected,
    )
    return rows, model


def _pointwise_scores(run: Run, scorer, target, selected, round_index):
    """Every remaining pool row's score, by id (repeats: averaged), and the (last) model."""
    config = run.config
    if _single_model(scorer):
        model = run.fit(target, run.train_config(round_index))
        pool = score_pool(
            model, run.data, run.split.pool_ids, scorer, config.scoring, exclude=selected
        )
        return pool, model
    repeat_scores, model = [], None
    observed = _observed(run, scorer, target, selected)
    for repeat in range(scorer.repeats):
        model = _warmup_model(run, observed, round_index, repeat + 1, scorer.warmup_epochs)
        pool = score_pool(
            model, run.data, run.split.pool_ids, scorer, config.scoring, exclude=selected
        )
        repeat_scores.append(pool.scores)
    return replace(pool, scores=average_repeats(repeat_scores)), model


def _warmup_model(run: Run, train_ids, round_index: int, stream: int, epochs: int | None):
    """A repeat's model: trained on ``train_ids`` for ``epochs`` (None: as configured; 0:
    freshly initialised)."""
    if epochs == 0:
        torch_seed = seeds.derived_seed(run.config.seed, round_index, stream)
        with torch.random.fork_rng():
            torch.manual_seed(torch_seed)
            model = models.build(run.config.model, run.meta.num_classes, run.meta.length)
        return FitResult(
            run.config.model, run.meta.num_classes, run.meta.length, model.state_dict()
        )
    return run.fit(train_ids, run.train_config(round_index, stream, epochs))


def _dynamics_round(run: Run, scorer: DynamicsScorer, target, selected, k, round_index, rng):
    """Train the round model, observing the pool after every epoch; then score and select."""
    pool, model = _dynamics_scores(run, scorer, target, selected, round_index)
    return _select_scores(run, pool, k, rng), model


def _dynamics_scores(run: Run, scorer: DynamicsScorer, target, selected, round_index):
    """Every remaining pool row's dynamics score, by id, and the observed model."""
    config = run.config
    remaining = np.setdiff1d(run.split.pool_ids, selected)

    def observe(epoch: int, model: FitResult) -> None:
        for outputs, _ in pool_outputs(model, run.data, remaining, scorer, config.scoring):
            checked_observe(scorer, epoch, outputs)

    train = replace(run.train_config(round_index), workers=0)  # per-epoch hook: in-process
    observed = _observed(run, scorer, target, selected)
    model = fit(run.config.model, run.data, observed, train, on_epoch=observe)
    scores = checked_dynamics_score(scorer, remaining)
    labels = run.index.labels[np.searchsorted(run.index.ids, remaining)].astype(np.int64)
    return SelectedRows(remaining, labels, np.zeros(len(remaining), np.float32), scores), model


_POOL_SCORES = {"pointwise": _pointwise_scores, "dynamics": _dynamics_scores}


def _shared_round(run: Run, scorer: Scorer, target, selected, k, round_index, rng):
    """A first round through the score cache: the pool's scores read, or computed and stored,
    then this round's own selection from them (what the uncached procedure selects).

    Returns:
        ``(rows, model summary, read from the cache)``.
    """
    config = run.config
    pool = np.unique(run.split.pool_ids)
    name = score_cache.entry_name(
        model=config.model,
        data=run.data,
        train=run.train_config(round_index),
        seed=config.seed,
        round_index=round_index,
        scorer=config.scorer,
        params=scorer_params(config),
        batch_size=config.scoring.batch_size,
        target=target,
        pool=pool,
    )
    entry = score_cache.load(run.score_cache, name, pool)
    if entry is None:
        scores, model = _POOL_SCORES[scorer.kind](run, scorer, target, selected, round_index)
        entry = score_cache.store(run.score_cache, name, scores, model)
    else:
        log.info("round %d: pool scores read from the score cache (%s)", round_index, name)
    return _select_scores(run, entry.scores, k, rng), entry.model, entry.cached


def _set_round(run: Run, selector: SetSelector, target, selected, k, round_index, rng):
    """Fit, gather the pool's features in one sharded pass, then the greedy selector picks."""
    config = run.config
    model = run.fit(_observed(run, selector, target, selected), run.train_config(round_index))
    parts = [
        outputs
        for outputs, _ in pool_outputs(
            model, run.data, run.split.pool_ids, selector, config.scoring, exclude=selected
        )
    ]
    features = ModelOutputs.concat(parts)
    features = features.subset(np.argsort(features.ids, kind="stable"))
    # the validation set: the target, or the pool itself when the selector observes the pool
    target_outputs = (
        features
        if selector.observed_set == "pool"
        else _target_outputs(run, model, target, selector)
    )
    chosen = select_set(
        selector,
        features,
        k,
        balanced=config.balanced,
        num_classes=run.meta.num_classes,
        rng=rng,
        target=target_outputs,
    )
    return run.rows_of(chosen, np.full(k, np.nan)), model


def _target_outputs(run: Run, model: FitResult, target: np.ndarray, scorer: Scorer):
    frames = read_frames(run.data, target)
    network = model.model()
    size = run.config.scoring.batch_size
    parts = [
        compute_outputs(
            network,
            frames.iq[start : start + size],
            frames.labels[start : start + size],
            scorer.needs,
            ids=frames.ids[start : start + size],
            scorer=scorer.name,
        )
        for start in range(0, len(frames), size)
    ]
    return ModelOutputs.concat(parts)


def run_round(run: Run, round_index: int, k: int, target, selected) -> RoundRecord:
    """One round: a fresh scorer, the kind's procedure (a shareable first round through the
    run's score cache, when it has one), and the round's metrics."""
    scorer = make_scorer(run.config)
    rng = seeds.rng(run.config.seed, round_index, Stream.SELECTION)
    procedure = {"pointwise": _pointwise_round, "dynamics": _dynamics_round, "set": _set_round}
    start = time.perf_counter()
    cached = False
    if run.score_cache is not None and score_cache.is_shareable(scorer, selected):
        rows, model, cached = _shared_round(run, scorer, target, selected, k, round_index, rng)
    else:
        rows, model = procedure[scorer.kind](run, scorer, target, selected, k, round_index, rng)
    overlap = np.intersect1d(rows.ids, np.concatenate([target, selected]))
    if len(overlap) or len(np.unique(rows.ids)) != k:
        raise RuntimeError(f"round {round_index} selected repeated ids: {overlap[:5].tolist()}")
    last = model.history[-1] if model is not None and model.history else {}
    quality = model.quality if model is not None else None  # None: untrained or an old cache
    warnings = [quality["warning"]] if quality and quality["warning"] else []
    for warning in warnings:
        log.warning("round %d's model %s", round_index, warning)
    metrics = {
        "round": round_index,
        "k": k,
        "target_size_before": len(target),
        "pool_size_before": len(run.split.pool_ids) - len(selected),
        "train_accuracy": last.get("accuracy"),
        "train_loss": last.get("loss"),
        "seconds": round(time.perf_counter() - start, 3),
        "selected_per_class": np.bincount(rows.labels, minlength=run.meta.num_classes).tolist(),
        "model_quality": quality,
        "warnings": warnings,
        "scores_cached": cached,
    }
    return RoundRecord(round_index, rows, metrics)


def selected_ids(records: list[RoundRecord]) -> np.ndarray:
    if not records:
        return np.zeros(0, np.int64)
    return np.concatenate([record.rows.ids for record in records]).astype(np.int64)
