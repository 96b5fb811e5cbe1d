"""Uncertainty scorers on softmax probabilities: DUSE, least confidence, entropy, margin.

The maths are the pure functions :func:`top2_margin`, :func:`least_confidence` and
:func:`entropy`; the scorers only fix the direction (higher = select first). DeepCore's
uncertainty scores select opposite ends in its balanced and global modes and its least
confidence reads raw logits (reference/baselines.md §2.1); here one direction holds in both
modes and every score reads the softmax.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from scorers._internal.registry import register
from scorers.base import ModelOutputs, Needs, PointwiseScorer

__all__ = [
    "Duse",
    "Entropy",
    "LeastConfidence",
    "Margin",
    "entropy",
    "least_confidence",
    "top2_margin",
]


def top2_margin(probs: np.ndarray) -> np.ndarray:
    """``p(1) - p(2)``: the largest minus the second-largest probability.

    Args:
        probs: ``[n, C]`` probabilities, ``C >= 2``.

    Returns:
        ``[n]`` float64 in ``[0, 1]``; small = the model hesitates between two classes.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"top2_margin needs probabilities [n, C>=2], got {probs.shape}")
    top2 = np.partition(probs, -2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def least_confidence(probs: np.ndarray) -> np.ndarray:
    """``1 - max_c p_c`` per row of ``[n, C]`` probabilities; ``[n]`` float64, high = unsure."""
    return 1.0 - np.max(np.asarray(probs, dtype=np.float64), axis=1)


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy ``-sum_c p_c ln p_c`` (nats, ``0 ln 0 = 0``) per row; ``[n]`` float64."""
    probs = np.asarray(probs, dtype=np.float64)
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return -np.sum(probs * logs, axis=1)


@register("duse")
class Duse(PointwiseScorer):
    """DUSE uncertainty: top-2 softmax margin; smallest margin first by default.

    The paper's Eq. 7 is inferred to be ``p(1) - p(2)`` (its one-pass ablation equals the Margin
    baseline to the digit) and its text contradicts itself on which end is taken
    (reference/duse_paper.md §1c), so both ends are available.

    Args:
        order: ``"smallest_first"`` (the prose: "smaller U = more uncertain"; score
            ``-(p1 - p2)``) or ``"largest_first"`` (the literal "sort U descending, take the
            top-k", DeepCore's global branch; score ``p1 - p2``).
    """

    needs = Needs.PROBS

    def __init__(self, *, order: Literal["smallest_first", "largest_first"] = "smallest_first"):
        if order not in ("smallest_first", "largest_first"):
            raise self._invalid(f"order must be 'smallest_first' or 'largest_first', got {order!r}")
        self.order = order

    def score(self, outputs: ModelOutputs) -> np.ndarray:
        margin = top2_margin(outputs.probs)
        return -margin if self.order == "smallest_first" else margin


@register("least_confidence")
class LeastConfidence(PointwiseScorer):
    """Least confidence: 1 - max softmax; the least confident sample first."""

    needs = Needs.PROBS

    def score(self, outputs: ModelOutputs) -> np.ndarray:
        return least_confidence(outputs.probs)


@register("entropy")
class Entropy(PointwiseScorer):
    """Predictive entropy of the softmax; the most uniform prediction first."""

    needs = Needs.PROBS

    def score(self, outputs: ModelOutputs) -> np.ndarray:
        return entropy(outputs.probs)


@register("margin")
class Margin(PointwiseScorer):
    """Margin baseline: top-2 softmax margin, smallest margin first (score -(p1 - p2))."""

    needs = Needs.PROBS

    def score(self, outputs: ModelOutputs) -> np.ndarray:
        return -top2_margin(outputs.probs)
