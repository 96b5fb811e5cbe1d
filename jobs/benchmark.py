"""Ray job: DUSE against the baselines, the (method x rate x seed) grid as Ray Tune trials.

``python -m jobs.benchmark ARGS`` is ``duse benchmark ARGS``: the same parser,
options and exit status (``python -m jobs.benchmark --help``).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.cli import entry
from engine.cli import main as duse

__all__ = ["COMMAND", "main"]

COMMAND = ("benchmark",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job on ``argv``; returns the exit status."""
    return duse([*COMMAND, *(argv or [])])


if __name__ == "__main__":
    entry(COMMAND)
