"""Ray job: one expansion run (the DUSE loop or a one-shot baseline).

``python -m jobs.expand ARGS`` is ``duse expand ARGS``: the same parser,
options and exit status (``python -m jobs.expand --help``).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.cli import entry
from engine.cli import main as duse

__all__ = ["COMMAND", "main"]

COMMAND = ("expand",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job on ``argv``; returns the exit status."""
    return duse([*COMMAND, *(argv or [])])


if __name__ == "__main__":
    entry(COMMAND)
