"""Random selection as a scorer: seeded uniform scores, so top-k is a uniform random subset."""

from __future__ import annotations

import numpy as np

from scorers._internal.registry import register
from scorers.base import ModelOutputs, Needs, PointwiseScorer

__all__ = ["Random", "uniform_from_ids"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    z = values + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform_from_ids(ids: np.ndarray, key: int) -> np.ndarray:
    """A uniform draw in ``[0, 1)`` per id, fixed by ``(key, id)`` alone.

    The value of a sample does not depend on the batch it is scored in or on the other ids, so
    sharded scoring gives the same scores as scoring the pool in one piece.

    Args:
        ids: ``[n]`` integer sample ids.
        key: a 64-bit key (the seed).

    Returns:
        ``[n]`` float64 in ``[0, 1)``, 53 random bits each.
    """
    ids = np.asarray(ids, dtype=np.int64).astype(np.uint64)
    mixed = _splitmix64(ids ^ _splitmix64(np.array([key % 2**64], dtype=np.uint64)))
    return (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53


@register("random")
class Random(PointwiseScorer):
    """Uniform random scores from a seed: a seeded uniform random subset (per class if balanced).

    Args:
        seed: the key of the draw (used when ``rng`` is not given).
        rng: if given, the key is drawn from it once, at the first :meth:`score`.
    """

    needs = Needs.NONE

    def __init__(self, *, seed: int = 0, rng: np.random.Generator | None = None) -> None:
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"scorer {self.name!r}: rng must be a numpy Generator, got {rng!r}")
        if not isinstance(seed, int | np.integer) or seed < 0:
            raise self._invalid(f"seed must be a non-negative integer, got {seed!r}")
        if rng is not None and seed != 0:
            raise self._invalid("give either seed or rng, not both")
        self.seed = seed
        self.rng = rng

    def score(self, outputs: ModelOutputs) -> np.ndarray:
        if not hasattr(self, "key_"):
            self.key_ = int(self.rng.integers(2**63)) if self.rng is not None else int(self.seed)
        return uniform_from_ids(outputs.ids, self.key_)
