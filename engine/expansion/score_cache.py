"""First-round pool scores shared between runs (the cells of a benchmark): score once, select any k.

A first round scores the whole pool with a model trained on the initial target. Those scores
depend on the round model's inputs (architecture, dataset, target ids, training config, the
run's seed), the score function (scorer and resolved parameters) and the pool; the budget ``k``
and class-balanced mode are read only by the selection. ``expand(..., score_cache=URI)`` stores
them once per key as ``URI/<key>.npz`` (ids, labels, SNR, scores and the round model's history
and quality, written atomically) and a later run with the same key selects its ``k`` from the
stored scores with the round's own ``rng``: exactly the selection of a fresh pass, ties
included, since ``score_and_select`` equals ``select`` on ``score_pool``'s output. Two runs
computing one entry at once both publish it whole; either copy holds the same scores.

Stored: pointwise scorers (GraNd's averaged repeats too) and dynamics scorers (``forgetting``:
its observed training is skipped on a hit). Not stored: later rounds (their target holds the
earlier selections, which depend on ``k``) and set selectors (their greedy pick depends on ``k``).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

import fsspec
import numpy as np

from engine._internal.atomic import remove_stale_staging, write_bytes
from engine.scoring import SelectedRows
from engine.training import TrainConfig
from scorers import Scorer, scorer_class

__all__ = [
    "SAME_SCORES",
    "Entry",
    "ModelSummary",
    "entry_name",
    "is_shareable",
    "load",
    "score_identity",
    "store",
]

log = logging.getLogger(f"duse.{__name__}")

# Score functions that are one function under two names: (scorer, resolved params) -> the name
# they share. DUSE's smallest-first end scores -(p1 - p2), the Margin baseline's score
# (scorers/uncertainty.py; the paper's one-round DUSE equals Margin to the digit). A test pins
# the equality on probabilities.
SAME_SCORES: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("duse", json.dumps({"order": "smallest_first"})): ("margin", {}),
}


def score_identity(scorer: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The score function ``(scorer, params)`` computes: the name with every parameter spelled
    out (the signature's defaults filled in), or the shared name of :data:`SAME_SCORES`.

    Args:
        scorer: a registered scorer name.
        params: its parameters, as the run passes them (``rounds.scorer_params``).
    """
    signature = inspect.signature(scorer_class(scorer)).parameters.values()
    defaults = {p.name: p.default for p in signature if p.default is not inspect.Parameter.empty}
    full = {**defaults, **params}
    return SAME_SCORES.get((scorer, json.dumps(full, sort_keys=True)), (scorer, full))


@dataclass(frozen=True)
class ModelSummary:
    """What a round reports about its model (``run_round`` reads these two) when the model
    itself was not needed: the scores came from the cache."""

    history: list[dict[str, float]]
    quality: dict[str, Any] | None


@dataclass(frozen=True)
class Entry:
    """One first round's pool scores (sorted by id) and its model's summary.

    Attributes:
        scores: every pool row's score.
        model: the round model's training history and quality.
        cached: read from the cache (False: computed by this run).
    """

    scores: SelectedRows
    model: ModelSummary
    cached: bool


def entry_name(
    *,
    model: str,
    data: str,
    train: TrainConfig,
    seed: int,
    round_index: int,
    scorer: str,
    params: dict[str, Any],
    batch_size: int,
    target: np.ndarray,
    pool: np.ndarray,
) -> str:
    """The entry's file name: a SHA-256 of everything the scores depend on.

    As ``fit_cache``'s key (architecture, dataset, training config and training ids), plus the
    run's seed and round (they seed GraNd's repeat models), the score function
    (:func:`score_identity`: a seeded ``random`` keys on its seed), the scoring batch size (it
    could change float rounding) and the scored pool ids.
    """
    name, full = score_identity(scorer, params)
    key = json.dumps(
        [model, data, asdict(train), seed, round_index, name, full, batch_size],
        sort_keys=True,
        default=repr,
    )
    digest = hashlib.sha256(key.encode())
    for ids in (target, pool):
        digest.update(b"|" + np.asarray(ids, np.int64).tobytes())
    return f"{digest.hexdigest()[:32]}.npz"


def load(uri: str, name: str, pool: np.ndarray) -> Entry | None:
    """The stored entry, or None when absent or unreadable (then it is computed again).

    Args:
        uri: the cache directory.
        name: :func:`entry_name`.
        pool: the ids the entry must hold (sorted, unique).
    """
    fs, path = fsspec.core.url_to_fs(uri)
    where = f"{path.rstrip('/')}/{name}"
    if not fs.exists(where):
        return None
    try:
        with fs.open(where, "rb") as handle, np.load(io.BytesIO(handle.read())) as stored:
            arrays = {key: stored[key] for key in ("ids", "labels", "snr", "scores", "model")}
        summary = json.loads(str(arrays.pop("model")))
    except (OSError, ValueError, KeyError) as error:
        log.warning("score cache entry %s is unreadable (%s); scoring again", where, error)
        return None
    if not np.array_equal(arrays["ids"], pool):
        log.warning("score cache entry %s holds other ids; scoring again", where)
        return None
    rows = SelectedRows(arrays["ids"], arrays["labels"], arrays["snr"], arrays["scores"])
    return Entry(rows, ModelSummary(summary["history"], summary["quality"]), cached=True)


def store(uri: str, name: str, scores: SelectedRows, model: Any) -> Entry:
    """Publish a computed entry (atomically: readers see all of it or none) and return it.

    Args:
        uri: the cache directory.
        name: :func:`entry_name`.
        scores: every pool row's score, sorted by id.
        model: the round model (its ``history`` and ``quality`` are kept).
    """
    summary = ModelSummary(list(model.history), model.quality)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=np.asarray(scores.ids, np.int64),
        labels=np.asarray(scores.labels, np.int64),
        snr=np.asarray(scores.snr_db, np.float32),
        scores=np.asarray(scores.scores, np.float64),
        model=np.array(json.dumps(asdict(summary))),
    )
    target = f"{uri.rstrip('/')}/{name}"
    fs, path = fsspec.core.url_to_fs(target)
    remove_stale_staging(fs, path)  # a writer killed mid-write left its staging
    write_bytes(target, buffer.getvalue())
    return Entry(scores, summary, cached=False)


def is_shareable(scorer: Scorer, selected: np.ndarray) -> bool:
    """Whether this round's scores may be stored: a first round (nothing selected yet) of a
    pointwise or dynamics scorer."""
    return len(selected) == 0 and scorer.kind in ("pointwise", "dynamics")
