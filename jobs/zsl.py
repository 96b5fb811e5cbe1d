"""Ray job: SigZSLNet over every group x seed of a config, in sequence or as Tune trials.

``python -m jobs.zsl ARGS`` is ``duse zsl ARGS``: the same parser,
options and exit status (``python -m jobs.zsl --help``).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.cli import entry
from engine.cli import main as duse

__all__ = ["COMMAND", "main"]

COMMAND = ("zsl",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job on ``argv``; returns the exit status."""
    return duse([*COMMAND, *(argv or [])])


if __name__ == "__main__":
    entry(COMMAND)
