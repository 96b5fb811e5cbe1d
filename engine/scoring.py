"""Run a scorer over an auxiliary pool: a Ray Data actor pool or in-process, streaming.

One worker class, :class:`PoolWorker`, holds the model once and turns a batch of stored frames
(``id, label, snr, iq``) into slim rows: ``id, label, snr, score`` for a pointwise scorer, or
``id, label, snr`` plus the declared per-sample arrays (logits, probabilities, embeddings, ...)
for the passes that feed dynamics scorers and set selectors. The IQ tensors are dropped right
after inference, so a pool of any size streams through bounded memory.

Three executors run that same class:

* ``"ray"``: ``read_parquet -> map_batches(PoolWorker, ActorPoolStrategy)``; the actors take a
  fraction of the cluster's CPUs so Ray Data's read tasks always find a slot
  (reference/ray.md 0.2). Ray Data restarts a killed actor and retries its batches
  (``max_restarts=-1``, ``max_task_retries=-1`` are its defaults in 2.60), and every pass checks
  that each pool id came back exactly once.
* ``"actors"``: Ray actors kept alive across passes (:mod:`engine.scoring_actors`), each
  reading its own pieces of the pool: no pool or pipeline to build per pass, for runs of many
  passes (DUSE rounds, benchmark cells, dynamics scorers' epochs).
* ``"local"``: the dataset's shards read in this process, batch by batch.

Both read only the shards and row groups whose id ranges can hold pool ids
(:func:`engine.data.store.iter_frames`, :func:`engine.data.store.to_ray_dataset`).

Selection on a stream (:class:`StreamingSelection`) keeps, per class or globally, only the rows
that can still make the cut, so the driver never holds, sorts or shuffles the whole pool; it
returns exactly what ``engine.selection.select`` returns on the full arrays.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

import models
from engine._internal.logs import configure_logging, current_verbosity
from engine.config import ConfigMixin, config_class
from engine.data.schema import Frames
from engine.data.store import iter_frames, to_ray_dataset
from engine.inference import Inference, PreparedForward
from engine.model_outputs import compute_outputs, score_batch
from engine.selection import class_quotas, select, top_k
from engine.training import FitResult
from scorers import ModelOutputs, Needs, PointwiseScorer, Scorer

__all__ = [
    "PoolWorker",
    "ScoringConfig",
    "SelectedRows",
    "StreamingSelection",
    "pool_outputs",
    "score_and_select",
    "score_pool",
]

log = logging.getLogger(f"duse.{__name__}")

Executor = Literal["ray", "actors", "local"]
INDEX_COLUMNS = ("id", "label", "snr")
# Needs that a pass can ship back as per-sample arrays (a callable cannot cross processes).
_ARRAY_NEEDS = {
    Needs.LOGITS: "logits",
    Needs.PROBS: "probs",
    Needs.EMBEDDING: "embedding",
    Needs.LAST_LAYER_GRAD: "last_layer_grad",
    Needs.INPUT_GRAD: "input_grad",
    Needs.IQ: "iq",
}
_PROGRESS_EVERY_S = 10.0
_PRUNE_SLACK_ROWS = 65_536
PIECE_BATCHES = 16  # executor "actors": batches per piece of the pool handed to an actor


@config_class
class ScoringConfig(ConfigMixin):
    """How a pass over the pool runs. None of these changes a score."""

    config_name: ClassVar[str] = "scoring config"

    executor: Executor = Field(
        "ray",
        description="'ray' (a Ray Data actor pool per pass), 'actors' (Ray actors kept across "
        "passes, engine.scoring_actors) or 'local' (this process)",
    )
    batch_size: int = Field(1024, ge=1, description="frames per model call")
    actors: int = Field(1, ge=1, description="size of the Ray actor pool (one model copy each)")
    cpus_per_actor: float | None = Field(
        None,
        gt=0,
        description="logical CPUs each actor reserves; None: min(1, CPUs / (actors + 1)) of "
        "the cluster, which always leaves room for Ray Data's read tasks",
    )
    gpus_per_actor: float = Field(
        0.0, ge=0, description="GPUs each actor reserves (> 0 runs the model on CUDA)"
    )
    threads_per_actor: int | None = Field(
        None,
        ge=1,
        description="torch intra-op threads per actor; None: this machine's cores divided by "
        "actors (set it on clusters whose nodes differ from the driver)",
    )
    inference: Inference = Field(
        "frozen",
        description="how the model's forward runs (engine.inference): 'eager', 'frozen' "
        "(TorchScript-frozen, in cache-sized calls), 'compiled' (torch.compile) or 'bf16' "
        "(bfloat16 autocast; near-tied scores may swap)",
    )


@dataclass(frozen=True)
class SelectedRows:
    """Pool rows with their scores: a selection in selection order (best first), or every
    scored pool row sorted by id (:func:`score_pool`).

    Attributes:
        ids: ``[k]`` int64.
        labels: ``[k]`` int64.
        snr_db: ``[k]`` float32.
        scores: ``[k]`` float64, higher = select first (NaN for set selectors, which rank but
            do not score).
    """

    ids: np.ndarray
    labels: np.ndarray
    snr_db: np.ndarray
    scores: np.ndarray


def _model_payload(model: FitResult) -> dict[str, Any]:
    """What a worker needs to rebuild the model: plain, picklable values."""
    return {
        "model_name": model.model_name,
        "num_classes": model.num_classes,
        "length": model.length,
        "state_dict": {key: value.cpu() for key, value in model.state_dict.items()},
    }


def _is_member(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Boolean mask of ``ids`` found in the sorted unique array ``wanted``."""
    if len(wanted) == 0:
        return np.zeros(len(ids), dtype=bool)
    positions = np.minimum(np.searchsorted(wanted, ids), len(wanted) - 1)
    return wanted[positions] == ids


def _resolved(value: Any) -> Any:
    """``value``, or what it refers to when the driver put it in the object store."""
    ray = sys.modules.get("ray")  # an ObjectRef exists only where Ray is imported
    if ray is not None and isinstance(value, ray.ObjectRef):
        return ray.get(value)
    return value


class PoolWorker:
    """Frames in, slim rows out: the per-batch function of both executors.

    Built once per Ray actor (or once per local pass): the model is rebuilt from its weights and
    kept in eval mode on ``device``. The Ray executor puts the weights and ids in the object
    store once per pass and hands actors the references: a large constructor argument would be
    stored per actor and make Ray warn that restarts depend on it.

    Args:
        model: the :func:`_model_payload` of a :class:`engine.training.FitResult` (or its
            ``ObjectRef``).
        wanted: sorted unique int64 ids to score (or their ``ObjectRef``); every other row of
            a batch is dropped before inference (this is how test, target and already-selected
            ids are excluded).
        scorer: a pointwise scorer (rows get a ``score``), or ``None``.
        needs: with ``scorer=None``, the per-sample arrays to return (array needs only).
        device: ``"cpu"`` or ``"cuda"``.
        threads: torch intra-op threads (``None``: leave torch's setting).
        inference: how the forward runs (:mod:`engine.inference`).
        log_verbosity: in a Ray actor, configure logging like the driver's
            (``engine._internal.logs``); ``None`` leaves this process's logging alone.
    """

    def __init__(
        self,
        model: dict[str, Any] | Any,
        wanted: np.ndarray | Any,
        scorer: PointwiseScorer | None = None,
        needs: Needs = Needs.NONE,
        device: str = "cpu",
        threads: int | None = None,
        inference: Inference = "eager",
        log_verbosity: int | None = None,
    ) -> None:
        if log_verbosity is not None:
            configure_logging(log_verbosity)
        model, wanted = _resolved(model), _resolved(wanted)
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.random.fork_rng():
            network = models.build(model["model_name"], model["num_classes"], model["length"])
        network.load_state_dict(model["state_dict"])
        self.model = network.to(device).eval()
        self.prepared = None if inference == "eager" else PreparedForward(self.model, inference)
        self.num_classes = model["num_classes"]
        self.wanted = np.asarray(wanted, dtype=np.int64)
        self.scorer = scorer
        self.needs = scorer.needs if scorer is not None else needs
        self.device = device

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One batch of stored frames to ``id, label, snr`` plus ``score`` or the need arrays.

        Args:
            batch: columns ``id [n]``, ``label [n]``, ``snr [n]``, ``iq [n, 2, L]``.

        Returns:
            Equal-length columns for the wanted rows only (possibly zero rows).
        """
        keep = _is_member(np.asarray(batch["id"], dtype=np.int64), self.wanted)
        ids = np.asarray(batch["id"], dtype=np.int64)[keep]
        labels = np.asarray(batch["label"], dtype=np.int64)[keep]
        rows = {"id": ids, "label": labels, "snr": np.asarray(batch["snr"], np.float32)[keep]}
        iq = np.asarray(batch["iq"])[keep]  # a boolean index copies: writable, IQ freed after
        finite = np.isfinite(iq).all(axis=tuple(range(1, iq.ndim)))  # also for zero rows
        if not finite.all():  # the data is corrupt, not the scorer
            raise ValueError(
                f"pool frame id {int(ids[~finite][0])} holds NaN or inf IQ: the dataset is "
                "corrupt (`duse data verify` lists its bad shards)"
            )
        if self.scorer is not None:
            rows["score"] = self._score(iq, labels, ids)
        else:
            rows.update(self._outputs(iq, labels, ids))
        return rows

    def _score(self, iq: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if len(ids) == 0:
            return np.zeros(0, dtype=np.float64)
        return score_batch(
            self.scorer,
            self.model,
            iq,
            labels,
            ids=ids,
            device=self.device,
            prepared=self.prepared,
        )

    def _outputs(self, iq: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> dict:
        if len(ids) == 0:
            iq = np.zeros((1, *iq.shape[1:]), dtype=np.float32)  # learn the output shapes
            outputs = compute_outputs(
                self.model, iq, np.zeros(1, np.int64), self.needs, device=self.device
            )
            return {name: value[:0] for name, value in _arrays_of(outputs, self.needs).items()}
        outputs = compute_outputs(
            self.model,
            iq,
            labels,
            self.needs,
            ids=ids,
            device=self.device,
            prepared=self.prepared,
        )
        return _arrays_of(outputs, self.needs)


def _arrays_of(outputs: ModelOutputs, needs: Needs) -> dict[str, np.ndarray]:
    return {name: getattr(outputs, name) for member, name in _ARRAY_NEEDS.items() if member & needs}


def _check_array_needs(scorer_name: str, needs: Needs) -> None:
    if needs & Needs.LOGITS_FN:
        raise ValueError(
            f"scorer {scorer_name!r}: Needs.LOGITS_FN is a callable and only pointwise scorers "
            "can use it (a sharded pass ships arrays, not functions)"
        )


class _PassMonitor:
    """Logs progress of a pass and checks every wanted id came back exactly once.

    The check is a count and two order-free id checksums, O(1) memory however big the pool.
    """

    def __init__(self, wanted: np.ndarray, what: str) -> None:
        self.expected = (len(wanted), *_checksums(wanted))
        self.what = what
        self.rows, self.id_sum, self.id_square_sum = 0, np.uint64(0), np.uint64(0)
        self.start = self.last_log = time.perf_counter()

    def add(self, ids: np.ndarray) -> None:
        total, square = _checksums(ids)
        self.rows += len(ids)
        self.id_sum += total
        self.id_square_sum += square
        now = time.perf_counter()
        if now - self.last_log >= _PROGRESS_EVERY_S:
            self.last_log = now
            rate = self.rows / (now - self.start)
            log.info("%s: %d/%d rows (%.0f rows/s)", self.what, self.rows, self.expected[0], rate)

    def finish(self) -> float:
        """Check completeness; return the pass's rows per second."""
        seconds = time.perf_counter() - self.start
        if (self.rows, self.id_sum, self.id_square_sum) != self.expected:
            raise RuntimeError(
                f"{self.what}: {self.rows} rows came back for {self.expected[0]} pool ids "
                "(rows lost or repeated)"
            )
        rate = self.rows / max(seconds, 1e-9)
        log.info("%s: %d rows in %.1f s (%.0f rows/s)", self.what, self.rows, seconds, rate)
        return rate


def _checksums(ids: np.ndarray) -> tuple[np.uint64, np.uint64]:
    values = np.asarray(ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        return np.sum(values, dtype=np.uint64), np.sum(values * values, dtype=np.uint64)


def _local_batches(
    data_uri: str, wanted: np.ndarray, batch_size: int
) -> Iterator[dict[str, np.ndarray]]:
    """The stored frames of the ``wanted`` ids (only their shards and row groups are read), in
    ``batch_size`` pieces."""
    for frames in iter_frames(data_uri, ids=wanted):
        for start in range(0, len(frames), batch_size):
            part = frames.take(slice(start, start + batch_size))
            yield {"id": part.ids, "label": part.labels, "snr": part.snr_db, "iq": part.iq}


def _actor_resources(config: ScoringConfig) -> tuple[float, int]:
    """(logical CPUs per actor, torch threads per actor)."""
    import ray

    cpus = config.cpus_per_actor
    if cpus is None:
        cluster_cpus = float(ray.cluster_resources().get("CPU", 1.0))
        cpus = min(1.0, cluster_cpus / (config.actors + 1))
    threads = config.threads_per_actor or max(1, (os.cpu_count() or 1) // config.actors)
    return cpus, threads


def _run_pass(
    data_uri: str,
    worker_kwargs: dict[str, Any],
    config: ScoringConfig,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield the worker's output batches over the wanted rows, on the configured executor."""
    device = "cuda" if config.gpus_per_actor > 0 else "cpu"
    worker_kwargs = {**worker_kwargs, "inference": config.inference}
    if config.executor == "local":
        worker = PoolWorker(**worker_kwargs, device=device, threads=config.threads_per_actor)
        for batch in _local_batches(data_uri, worker_kwargs["wanted"], config.batch_size):
            yield worker(batch)
        return
    import ray

    from engine._internal.ray_runtime import condense_data_progress, ensure_ray

    ensure_ray()
    cpus, threads = _actor_resources(config)
    if config.executor == "actors":
        from engine.scoring_actors import run_on_actors

        yield from run_on_actors(
            data_uri,
            worker_kwargs,
            actors=config.actors,
            cpus=cpus,
            gpus=config.gpus_per_actor,
            threads=threads,
            verbosity=current_verbosity(),
            batch_size=config.batch_size,
            piece_rows=PIECE_BATCHES * config.batch_size,
        )
        return
    from ray.data import ActorPoolStrategy

    # Once per pass, held by this generator until the pass ends (actor restarts re-read them).
    shared = {name: ray.put(worker_kwargs[name]) for name in ("model", "wanted")}
    constructor = {
        **worker_kwargs,
        **shared,
        "device": device,
        "threads": threads,
        "log_verbosity": current_verbosity(),
    }
    # Only the shards and row groups that can hold wanted ids are read; the actors keep exactly
    # the wanted rows (PoolWorker).
    columns = ["id", "label", "snr", "iq"]
    dataset = to_ray_dataset(data_uri, columns, ids=worker_kwargs["wanted"]).map_batches(
        PoolWorker,
        fn_constructor_kwargs=constructor,
        batch_size=config.batch_size,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=config.actors),
        num_cpus=cpus,
        num_gpus=config.gpus_per_actor or None,
    )
    condense_data_progress(dataset.context)
    yield from dataset.iter_batches(batch_size=None, batch_format="numpy")


def _wanted_ids(pool_ids: np.ndarray, exclude: np.ndarray | None) -> np.ndarray:
    wanted = np.unique(np.asarray(pool_ids, dtype=np.int64))
    if exclude is not None and len(exclude):
        wanted = np.setdiff1d(wanted, np.asarray(exclude, dtype=np.int64), assume_unique=False)
    if len(wanted) == 0:
        raise ValueError("the pool is empty after excluding the selected ids")
    return wanted


def _scored_batches(
    model: FitResult,
    data_uri: str,
    wanted: np.ndarray,
    scorer: PointwiseScorer,
    config: ScoringConfig,
) -> Iterator[dict[str, np.ndarray]]:
    if not isinstance(scorer, PointwiseScorer):
        raise TypeError(f"scorer {scorer.name!r} is a {scorer.kind} scorer, not pointwise")
    monitor = _PassMonitor(wanted, f"scoring {scorer.name}")
    kwargs = {"model": _model_payload(model), "wanted": wanted, "scorer": scorer}
    for batch in _run_pass(data_uri, kwargs, config):
        monitor.add(batch["id"])
        yield batch
    monitor.finish()


def score_pool(
    model: FitResult,
    data_uri: str,
    pool_ids: np.ndarray,
    scorer: PointwiseScorer,
    config: ScoringConfig | None = None,
    *,
    exclude: np.ndarray | None = None,
) -> SelectedRows:
    """Score every pool row (except ``exclude``) with a pointwise scorer.

    Holds all scores on the driver (``[n]`` float64 plus index columns, ~22 bytes a row); use
    :func:`score_and_select` to keep only the rows that can be selected.

    Args:
        model: trained weights (``engine.training.fit``).
        data_uri: the dataset holding the pool.
        pool_ids: ids to score.
        scorer: a pointwise scorer.
        config: executor settings (default :class:`ScoringConfig`).
        exclude: ids to leave out (e.g. already selected).

    Returns:
        Scores sorted by id.

    Raises:
        ValueError: an empty pool, or a bad score (the message names the scorer).
        RuntimeError: rows lost or repeated by the pass.
    """
    config = config or ScoringConfig()
    wanted = _wanted_ids(pool_ids, exclude)
    parts = list(_scored_batches(model, data_uri, wanted, scorer, config))
    columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    order = np.argsort(columns["id"], kind="stable")
    return SelectedRows(
        ids=columns["id"][order].astype(np.int64),
        labels=columns["label"][order].astype(np.int64),
        snr_db=columns["snr"][order].astype(np.float32),
        scores=columns["score"][order].astype(np.float64),
    )


class StreamingSelection:
    """Exact top-k or per-class quotas over scores arriving in batches, in bounded memory.

    Per group (the whole pool, or one class when balanced) only rows scoring at least the
    group's current ``quota``-th best are kept, ties included; the threshold only rises, so a
    dropped row could never be selected or tie the final cut. :meth:`finish` then gives exactly
    ``engine.selection.select(ids, scores, labels, k, ...)`` on the full pool sorted by id, with
    the same ``rng`` draws: the quotas are drawn at construction, as ``select`` draws them first.

    Args:
        k: how many to select, ``1 <= k <= pool``.
        class_counts: ``[C]`` pool rows per class (from the index; fixes the quotas).
        balanced: exact per-class quotas (``True``) or the global top-k.
        rng: the selection's generator (ties, quota remainder).

    Raises:
        ValueError: ``k`` out of range or a class short of its quota.
    """

    def __init__(
        self, k: int, class_counts: np.ndarray, *, balanced: bool, rng: np.random.Generator
    ) -> None:
        counts = np.asarray(class_counts, dtype=np.int64)
        if not 1 <= k <= counts.sum():
            raise ValueError(f"k={k} must lie in [1, {int(counts.sum())}] (the pool size)")
        self.k = k
        self.balanced = balanced
        self.num_classes = len(counts)
        self.rng = rng
        self.quotas = class_quotas(counts, k, rng) if balanced else np.array([k])
        self._groups: list[list[dict[str, np.ndarray]]] = [[] for _ in self.quotas]
        self._sizes = np.zeros(len(self.quotas), dtype=np.int64)
        self.rows_seen = 0

    def add(self, batch: dict[str, np.ndarray]) -> None:
        """Offer scored rows (columns ``id``, ``label``, ``snr``, ``score``)."""
        self.rows_seen += len(batch["id"])
        labels = np.asarray(batch["label"], dtype=np.int64)
        for group, quota in enumerate(self.quotas):
            rows = labels == group if self.balanced else slice(None)
            if quota == 0:
                continue
            part = {name: np.asarray(batch[name])[rows] for name in (*INDEX_COLUMNS, "score")}
            self._groups[group].append(part)
            self._sizes[group] += len(part["id"])
            if self._sizes[group] > 2 * quota + _PRUNE_SLACK_ROWS:
                self._prune(group, int(quota))

    def _prune(self, group: int, quota: int) -> None:
        merged = _merge(self._groups[group])
        scores = merged["score"]
        if len(scores) > quota:
            threshold = np.partition(scores, len(scores) - quota)[len(scores) - quota]
            merged = {name: values[scores >= threshold] for name, values in merged.items()}
        self._groups[group] = [merged]
        self._sizes[group] = len(merged["id"])

    @property
    def candidates(self) -> int:
        """Rows held now (bounded by about ``2 k + 65536`` per group plus one batch)."""
        return int(self._sizes.sum())

    def finish(self) -> SelectedRows:
        """The selection, best first.

        Raises:
            ValueError: fewer rows arrived than the quotas need.
        """
        parts = [_merge(group) for group in self._groups if group]
        merged = _merge(parts)
        order = np.argsort(merged["id"], kind="stable")
        merged = {name: values[order] for name, values in merged.items()}
        ids, scores = merged["id"].astype(np.int64), merged["score"].astype(np.float64)
        labels = merged["label"].astype(np.int64)
        if not self.balanced:
            chosen = select(
                ids,
                scores,
                labels,
                self.k,
                balanced=False,
                num_classes=self.num_classes,
                rng=self.rng,
            )
            positions = np.searchsorted(ids, chosen)
        else:
            positions = self._balanced_positions(scores, labels)
        return SelectedRows(
            ids[positions], labels[positions], merged["snr"][positions], scores[positions]
        )

    def _balanced_positions(self, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """``engine.selection.select``'s balanced branch after its quota draw."""
        chosen = []
        for label, quota in enumerate(self.quotas):
            if quota > 0:
                members = np.flatnonzero(labels == label)
                if len(members) < quota:
                    raise ValueError(
                        f"class {label} needs {quota} rows but only {len(members)} were scored"
                    )
                chosen.append(members[top_k(scores[members], int(quota), self.rng)])
        positions = np.concatenate(chosen)
        jitter = self.rng.random(len(positions))
        return positions[np.lexsort((jitter, -scores[positions]))]


def _merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def score_and_select(
    model: FitResult,
    data_uri: str,
    pool_ids: np.ndarray,
    scorer: PointwiseScorer,
    k: int,
    *,
    balanced: bool,
    num_classes: int,
    rng: np.random.Generator,
    config: ScoringConfig | None = None,
    exclude: np.ndarray | None = None,
) -> SelectedRows:
    """Score the pool and select ``k`` rows in one streaming pass (no pool-sized driver state).

    The result equals ``engine.selection.select`` over :func:`score_pool`'s output with the same
    ``rng``.

    Args:
        model: trained weights.
        data_uri: the dataset holding the pool.
        pool_ids: candidate ids.
        scorer: a pointwise scorer.
        k: how many to select.
        balanced: exact per-class quotas or the global top-k.
        num_classes: ``C``.
        rng: the selection's generator.
        config: executor settings.
        exclude: ids to leave out.

    Returns:
        The selected rows, best first.

    Raises:
        ValueError: ``k`` larger than the remaining pool, a class short of its quota, a bad score.
        RuntimeError: rows lost or repeated by the pass.
    """
    config = config or ScoringConfig()
    wanted = _wanted_ids(pool_ids, exclude)
    index = Frames.concat(list(iter_frames(data_uri, with_iq=False, ids=wanted)))  # pool only
    labels = index.labels.astype(np.int64)
    reads_labels = balanced or bool(scorer.needs & (Needs.LAST_LAYER_GRAD | Needs.INPUT_GRAD))
    if reads_labels and len(labels) and labels.max() >= num_classes:
        raise ValueError(
            f"pool labels exceed the model's {num_classes} classes; {scorer.name} "
            f"{'in class-balanced mode ' if balanced else ''}needs labels in its label space"
        )
    # Global top-k needs no labels: one group holding the whole pool.
    counts = np.bincount(labels, minlength=num_classes) if balanced else np.array([len(labels)])
    selection = StreamingSelection(k, counts, balanced=balanced, rng=rng)
    for batch in _scored_batches(model, data_uri, wanted, scorer, config):
        selection.add(batch)
    return selection.finish()


def pool_outputs(
    model: FitResult,
    data_uri: str,
    pool_ids: np.ndarray,
    scorer: Scorer,
    config: ScoringConfig | None = None,
    *,
    exclude: np.ndarray | None = None,
) -> Iterator[tuple[ModelOutputs, np.ndarray]]:
    """The pool's per-sample arrays for ``scorer.needs``, batch by batch (sharded pass).

    This feeds dynamics scorers (one pass per epoch) and set selectors (features of the whole
    pool, gathered by the caller). Batches come in no particular order.

    Args:
        model: the weights to evaluate.
        data_uri: the dataset holding the pool.
        pool_ids: ids to evaluate.
        scorer: declares the needs (array needs only: no ``LOGITS_FN``).
        config: executor settings.
        exclude: ids to leave out.

    Yields:
        ``(outputs, snr_db)`` per batch: a ModelOutputs with ids, labels and the needs, and the
        rows' SNR ``[n]`` float32.

    Raises:
        ValueError: a callable need, or an empty pool.
        RuntimeError: rows lost or repeated by the pass.
    """
    _check_array_needs(scorer.name, scorer.needs)
    config = config or ScoringConfig()
    wanted = _wanted_ids(pool_ids, exclude)
    monitor = _PassMonitor(wanted, f"features for {scorer.name}")
    kwargs = {"model": _model_payload(model), "wanted": wanted, "needs": scorer.needs}
    for batch in _run_pass(data_uri, kwargs, config):
        monitor.add(batch["id"])
        arrays = {name: batch[name] for name in _ARRAY_NEEDS.values() if name in batch}
        yield ModelOutputs(batch["id"], batch["label"], **arrays), batch["snr"]
    monitor.finish()
