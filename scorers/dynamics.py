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
from scorers.base import DynamicsScorer, ModelOutputs, Needs

__all__ = ["Forgetting", "ForgettingCounts", "count_forgetting"]


class ForgettingCounts:
    """Per-sample forgetting statistics over observed epochs, keyed by id.

    Attributes:
        ids: sorted unique ids ``[N]`` int64 observed so far.
        forgets: forgetting events ``[N]`` int64 (1 -> 0 transitions).
        learned: ``[N]`` bool, correct at least once.
        presentations: ``[N]`` int64, how many epochs observed the sample.
        last_correct: ``[N]`` bool, correct at the latest observation.
    """

    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.forgets = np.zeros(0, dtype=np.int64)
        self.learned = np.zeros(0, dtype=bool)
        self.presentations = np.zeros(0, dtype=np.int64)
        self.last_correct = np.zeros(0, dtype=bool)

    def update(self, ids: np.ndarray, correct: np.ndarray) -> None:
        """Add one epoch's observation: ``correct[i]`` for sample ``ids[i]`` (ids unique)."""
        ids = np.asarray(ids, dtype=np.int64)
        correct = np.asarray(correct, dtype=bool)
        new_ids = np.setdiff1d(ids, self.ids)
        if len(new_ids):
            merged = np.union1d(self.ids, new_ids)
            old = np.searchsorted(merged, self.ids)
            for name in ("forgets", "learned", "presentations", "last_correct"):
                grown = np.zeros(len(merged), dtype=getattr(self, name).dtype)
                grown[old] = getattr(self, name)
                setattr(self, name, grown)
            self.ids = merged
        rows = np.searchsorted(self.ids, ids)
        # last_correct is False before the first presentation, so it never counts as forgetting.
        self.forgets[rows] += self.last_correct[rows] & ~correct
        self.last_correct[rows] = correct
        self.learned[rows] |= correct
        self.presentations[rows] += 1


def count_forgetting(history: np.ndarray) -> np.ndarray:
    """Forgetting events per row of a correctness history ``[n, epochs]`` (bool); ``[n]`` int64.

    An event is a ``True`` followed by ``False`` in consecutive columns.
    """
    history = np.asarray(history, dtype=bool)
    return np.sum(history[:, :-1] & ~history[:, 1:], axis=1).astype(np.int64)


@register("forgetting")
class Forgetting(DynamicsScorer):
    """Forgetting events of pool samples across training epochs; most forgotten first.

    Correct means ``argmax(logits) == label`` when the engine evaluates the pool after an epoch.
    Samples never classified correctly have no events to count. Toneva et al.'s reference code
    ranks them as the most forgettable (a count equal to their number of observations, more than
    any learned sample can reach); DeepCore gives them 0, tied with unforgettable samples
    (reference/baselines.md §2.3).

    Args:
        never_learned: ``"first"`` (Toneva; score = observations) or ``"zero"`` (DeepCore).
    """

    needs = Needs.LOGITS

    def __init__(self, *, never_learned: Literal["first", "zero"] = "first") -> None:
        if never_learned not in ("first", "zero"):
            raise self._invalid(f"never_learned must be 'first' or 'zero', got {never_learned!r}")
        self.never_learned = never_learned

    def _flush(self) -> None:
        """Fold the pending epoch's batches into the counts."""
        if not self._pending:
            return
        ids = np.concatenate([ids for ids, _ in self._pending])
        correct = np.concatenate([correct for _, correct in self._pending])
        self._pending = []
        if len(np.unique(ids)) != len(ids):
            raise self._invalid(f"epoch {self.epoch_} observed some ids more than once")
        self.counts_.update(ids, correct)

    def observe(self, epoch: int, outputs: ModelOutputs) -> None:
        if not hasattr(self, "counts_"):
            self.counts_ = ForgettingCounts()
            self.epoch_ = epoch
            self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        if epoch < self.epoch_:
            raise self._invalid(f"epoch {epoch} observed after epoch {self.epoch_}")
        if epoch > self.epoch_:
            self._flush()
            self.epoch_ = epoch
        correct = np.argmax(outputs.logits, axis=1) == outputs.labels
        self._pending.append((outputs.ids.copy(), correct))

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
        return scores
