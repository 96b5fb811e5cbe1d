"""The ``duse`` logger tree and the one function that configures it.

Every library module names its logger ``logging.getLogger(f"duse.{__name__}")`` (e.g.
``duse.engine.expansion.loop``), so one level on ``duse`` governs the whole library. The library
never sets levels or adds handlers; entry points do, once, through :func:`configure_logging`: the
``duse`` command, the job entrypoints, and the Tune trials and Ray actors the engine starts (a
Ray worker process starts with logging unconfigured, so the engine hands them
:func:`current_verbosity` and they configure themselves the same way).
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["ROOT", "configure_logging", "current_verbosity"]

ROOT = "duse"
_FORMAT = "%(asctime)s {tag}%(name)s: %(message)s"
_verbosity: int | None = None


class _DuseHandler(logging.StreamHandler):
    """The console handler :func:`configure_logging` installs (found again by its type)."""


def configure_logging(verbosity: int = 0, *, tag: str | None = None) -> None:
    """Log to stderr: the library's progress at INFO, other libraries' warnings.

    Calling it again replaces the handler it installed before, so lines never double. Before Ray
    is imported it also turns Ray's dedup of forwarded worker lines off (``RAY_DEDUP_LOGS=0``
    unless set): that dedup ignores every word holding a digit, so the per-round lines of two
    benchmark cells would be merged into one.

    Args:
        verbosity: ``-1``: warnings only; ``0``: ``duse`` INFO (per round, per pass, per trial);
            ``1``: every library's INFO too; ``2``: ``duse`` DEBUG too.
        tag: written before the logger name on every line (e.g. the benchmark cell a Tune
            trial runs), so lines from concurrent trials can be told apart.
    """
    global _verbosity
    _verbosity = verbosity
    if "ray" not in sys.modules:
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _DuseHandler)]:
        root.removeHandler(handler)
    handler = _DuseHandler(sys.stderr)
    prefix = f"[{tag.replace('%', '%%')}] " if tag else ""
    handler.setFormatter(logging.Formatter(_FORMAT.format(tag=prefix)))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbosity >= 1 else logging.WARNING)
    levels = (logging.WARNING, logging.INFO, logging.INFO, logging.DEBUG)  # verbosity -1..2
    logging.getLogger(ROOT).setLevel(levels[min(max(verbosity, -1), 2) + 1])


def current_verbosity() -> int | None:
    """The verbosity :func:`configure_logging` last set in this process (``None``: never called,
    the process's logging is someone else's)."""
    return _verbosity
