"""Ray job: synthesise a dataset profile into the canonical format.

``python -m jobs.generate ARGS`` is ``duse data generate ARGS``: the same parser,
options and exit status (``python -m jobs.generate --help``).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.cli import entry
from engine.cli import main as duse

__all__ = ["COMMAND", "main"]

COMMAND = ("data", "generate")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job on ``argv``; returns the exit status."""
    return duse([*COMMAND, *(argv or [])])


if __name__ == "__main__":
    entry(COMMAND)
