"""Data expansion: the DUSE loop and the one-shot baselines (docs/expansion.md).

- :mod:`~engine.expansion.config`: :class:`ExpandConfig` and :class:`SplitSpec`.
- :mod:`~engine.expansion.budget`: the total budget and each round's share.
- :mod:`~engine.expansion.rounds`: one round (fit, score by the scorer's kind, select).
- :mod:`~engine.expansion.run_dir`: the run directory (config, split, rounds, manifest).
- :mod:`~engine.expansion.loop`: :func:`expand`, the rounds with resume and the final model.
- :mod:`~engine.expansion.summary`: ``summary.md``.
"""

from engine.expansion.budget import budget_size, round_sizes
from engine.expansion.config import DEFAULT_RATE, ExpandConfig, SplitSpec
from engine.expansion.loop import ExpansionResult, expand
from engine.expansion.run_dir import RoundRecord, provenance_of

__all__ = [
    "DEFAULT_RATE",
    "ExpandConfig",
    "ExpansionResult",
    "RoundRecord",
    "SplitSpec",
    "budget_size",
    "expand",
    "provenance_of",
    "round_sizes",
]
