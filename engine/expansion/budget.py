"""The budget: how many pool samples a run selects in total and in each round."""

from __future__ import annotations

import logging

import numpy as np

from engine.expansion.config import ExpandConfig

log = logging.getLogger(f"duse.{__name__}")


def budget_size(config: ExpandConfig, pool_size: int) -> int:
    """The total number of samples to select.

    Args:
        config: the run (``rate`` or ``count``).
        pool_size: ``|A0|``, the auxiliary pool after the split.

    Returns:
        ``count``, or ``round(rate * pool_size)`` (halves rounded up).

    Raises:
        ValueError: the budget is larger than the pool or smaller than the number of rounds.
    """
    if config.count is not None:
        budget = config.count
    else:
        budget = int(np.floor(config.rate * pool_size + 0.5))
    if budget > pool_size:
        raise ValueError(f"budget of {budget} samples is larger than the pool ({pool_size})")
    if budget < config.rounds:
        raise ValueError(
            f"budget of {budget} samples (rate={config.rate}, count={config.count}, pool "
            f"{pool_size}) cannot give each of the {config.rounds} rounds at least one sample"
        )
    return budget


def round_sizes(budget: int, rounds: int) -> list[int]:
    """``k_t`` per round: ``budget // rounds``, the first ``budget % rounds`` rounds one more."""
    base, extra = divmod(budget, rounds)
    return [base + (1 if t < extra else 0) for t in range(rounds)]
