"""Training-dynamics scorers: forgetting events (Toneva et al. 2019).

A *forgetting event* is a sample going from correctly to incorrectly classified between two
consecutive observations. The engine evaluates the pool after every training epoch and hands the
outputs to :meth:`Forgetting.observe`; the state is a few arrays keyed by sorted id, updated once
per epoch (O(N log N)), so 2.5 M-sample pools stay cheap.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from scorers._internal.registry import register
from scorers.base import DynamicsScorer, ModelOutputs, Needs, Observe

__all__ = ["Forgetting", "ForgettingCounts", "count_forgetting", "cross_entropy", "tie_break_key"]

_COUNT_FIELDS = (
    "forgets",
    "learned",
    "presentations",
    "last_correct",
    "first_learned",
    "last_loss",
)


class ForgettingCounts:
    """Per-sample forgetting statistics over observed epochs, keyed by id.

    Attributes:
        ids: sorted unique ids ``[N]`` int64 observed so far.
        forgets: forgetting events ``[N]`` int64 (1 -> 0 transitions).
        learned: ``[N]`` bool, correct at least once.
        presentations: ``[N]`` int64, how many epochs observed the sample.
        last_correct: ``[N]`` bool, correct at the latest observation.
        first_learned: ``[N]`` int64, the 0-based presentation at which the sample was first
            correct; -1 while never learned.
        last_loss: ``[N]`` float64, cross-entropy (nats) at the latest observation; 0 where
            :meth:`update` was given no loss.
    """

    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.forgets = np.zeros(0, dtype=np.int64)
        self.learned = np.zeros(0, dtype=bool)
        self.presentations = np.zeros(0, dtype=np.int64)
        self.last_correct = np.zeros(0, dtype=bool)
        self.first_learned = np.zeros(0, dtype=np.int64)
        self.last_loss = np.zeros(0, dtype=np.float64)

    def update(self, ids: np.ndarray, correct: np.ndarray, loss: np.ndarray | None = None) -> None:
        """Add one epoch's observation of the samples ``ids`` (unique).

        Args:
            ids: ``[b]`` int64 sample ids.
            correct: ``[b]`` bool, classified correctly at this observation.
            loss: ``[b]`` float cross-entropy at this observation (``None``: recorded as 0).
        """
        ids = np.asarray(ids, dtype=np.int64)
        correct = np.asarray(correct, dtype=bool)
        new_ids = np.setdiff1d(ids, self.ids)
        if len(new_ids):
            merged = np.union1d(self.ids, new_ids)
            old = np.searchsorted(merged, self.ids)
            fills = {"first_learned": -1}
            for name in _COUNT_FIELDS:
                current = getattr(self, name)
                grown = np.full(len(merged), fills.get(name, 0), dtype=current.dtype)
                grown[old] = current
                setattr(self, name, grown)
            self.ids = merged
        rows = np.searchsorted(self.ids, ids)
        # last_correct is False before the first presentation, so it never counts as forgetting.
        self.forgets[rows] += self.last_correct[rows] & ~correct
        self.last_correct[rows] = correct
        newly = correct & ~self.learned[rows]
        self.first_learned[rows[newly]] = self.presentations[rows[newly]]
        self.learned[rows] |= correct
        self.presentations[rows] += 1
        self.last_loss[rows] = 0.0 if loss is None else np.asarray(loss, dtype=np.float64)


def count_forgetting(history: np.ndarray) -> np.ndarray:
    """Forgetting events per row of a correctness history ``[n, epochs]`` (bool); ``[n]`` int64.

    An event is a ``True`` followed by ``False`` in consecutive columns.
    """
    history = np.asarray(history, dtype=bool)
    return np.sum(history[:, :-1] & ~history[:, 1:], axis=1).astype(np.int64)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy ``logsumexp(z) - z_y`` in nats, ``[n]`` float64.

    Computed as ``(max z - z_y) + log1p(sum of the other exp(z_c - max z))`` so that tiny losses
    of confident, correct samples keep their precision (they order ties, see
    :func:`tie_break_key`).

    Args:
        logits: ``[n, C]`` raw logits.
        labels: ``[n]`` labels in ``[0, C)``.

    Returns:
        ``[n]`` float64 losses, >= 0.
    """
    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(logits))
    top = np.argmax(logits, axis=1)
    shifted = np.exp(logits - logits[rows, top][:, None])
    shifted[rows, top] = 0.0
    return logits[rows, top] - logits[rows, np.asarray(labels)] + np.log1p(shifted.sum(axis=1))


def tie_break_key(
    first_learned: np.ndarray, presentations: np.ndarray, last_loss: np.ndarray
) -> np.ndarray:
    """Secondary Forgetting key in ``[0, 1)``, ``[n]`` float64; higher = select first.

    Orders samples lexicographically by (1) the presentation at which they were first learned,
    later first, a never-learned sample counting as learned after its last presentation; then
    (2) the latest cross-entropy, higher first. Encoded as ``(e + u) / (P + 2)`` with ``e`` the
    first-learned presentation (``P`` if never learned), ``P`` the presentations and
    ``u = loss / (1 + loss)`` in ``[0, 1]``: below 1, so it never crosses an integer count
    (exactly lexicographic among samples observed equally often, as in one round's pool).

    Args:
        first_learned: ``[n]`` int, 0-based first correct presentation, -1 if never.
        presentations: ``[n]`` int, observations per sample.
        last_loss: ``[n]`` float, cross-entropy at the latest observation (>= 0).

    Returns:
        ``[n]`` float64 keys in ``[0, 1)``.
    """
    presentations = np.asarray(presentations, dtype=np.float64)
    first = np.asarray(first_learned, dtype=np.float64)
    first = np.where(first < 0, presentations, first)
    loss = np.clip(np.asarray(last_loss, dtype=np.float64), 0.0, None)
    return (first + loss / (1.0 + loss)) / (presentations + 2.0)


@register("forgetting")
class Forgetting(DynamicsScorer):
    """Forgetting events of pool samples across training epochs; most forgotten first.

    Correct means ``argmax(logits) == label`` when the engine evaluates the pool after an epoch.
    Samples never classified correctly have no events to count. Toneva et al.'s reference code
    ranks them as the most forgettable (a count equal to their number of observations, more than
    any learned sample can reach); DeepCore gives them 0, tied with unforgettable samples
    (reference/baselines.md §2.3).

    The score is ``count + tie_break_key(...)``: the integer part is the count above (the primary
    order, unchanged), the fractional part in ``[0, 1)`` orders samples with equal counts, which
    are most of the pool (with ``"first"`` about 28 % of a measured pool tied at the top). Among
    equal counts: first learned later first, never-learned ones last-learned of all; then a higher
    cross-entropy at the latest observation first (:func:`tie_break_key`). So the picks among
    never-learned frames are the hardest ones, not a seeded draw.

    Args:
        never_learned: ``"first"`` (Toneva; score = observations) or ``"zero"`` (DeepCore).
        observe: ``"target"``: the engine trains the round model on the target set and
            observes the pool after each epoch; ``"pool"``: it trains on the pool itself and
            counts forgetting on the frames being learned, as Toneva and DeepCore do.
    """

    needs = Needs.LOGITS

    def __init__(
        self, *, never_learned: Literal["first", "zero"] = "first", observe: Observe = "target"
    ) -> None:
        if never_learned not in ("first", "zero"):
            raise self._invalid(f"never_learned must be 'first' or 'zero', got {never_learned!r}")
        self.never_learned = never_learned
        self._set_observe(observe)

    def _flush(self) -> None:
        """Fold the pending epoch's batches into the counts."""
        if not self._pending:
            return
        ids, correct, loss = (np.concatenate(part) for part in zip(*self._pending, strict=True))
        self._pending = []
        if len(np.unique(ids)) != len(ids):
            raise self._invalid(f"epoch {self.epoch_} observed some ids more than once")
        self.counts_.update(ids, correct, loss)

    def observe(self, epoch: int, outputs: ModelOutputs) -> None:
        if not hasattr(self, "counts_"):
            self.counts_ = ForgettingCounts()
            self.epoch_ = epoch
            self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if epoch < self.epoch_:
            raise self._invalid(f"epoch {epoch} observed after epoch {self.epoch_}")
        if epoch > self.epoch_:
            self._flush()
            self.epoch_ = epoch
        correct = np.argmax(outputs.logits, axis=1) == outputs.labels
        loss = cross_entropy(outputs.logits, outputs.labels)
        self._pending.append((outputs.ids.copy(), correct, loss))

    def score(self, ids: np.ndarray) -> np.ndarray:
        if not hasattr(self, "counts_"):
            raise self._invalid("score() called before any observe()")
        self._flush()
        counts = self.counts_
        ids = np.asarray(ids, dtype=np.int64)
        unseen = ~np.isin(ids, counts.ids)
        if unseen.any():
            raise self._invalid(f"ids never observed: {ids[unseen][:5].tolist()}")
        rows = np.searchsorted(counts.ids, ids)
        scores = counts.forgets[rows].astype(np.float64)
        if self.never_learned == "first":
            never = ~counts.learned[rows]
            scores[never] = counts.presentations[rows][never]
        return scores + tie_break_key(
            counts.first_learned[rows], counts.presentations[rows], counts.last_loss[rows]
        )
