"""How our command-line processes end."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from typing import NoReturn

__all__ = ["exit_process", "pid_alive"]


def exit_process(status: int) -> NoReturn:
    """End the process with ``status`` after the Python-level clean-up, skipping native teardown.

    With pyarrow 26, torch and Ray loaded, the interpreter's native teardown aborts now and then
    ("terminate called without an active exception", exit 134) after the work succeeded, which
    would make a finished job look failed. ``atexit`` handlers (``ray.shutdown``) and the
    flushes still run; only the C/C++ destructors are skipped.
    """
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken pipe
            stream.flush()
    os._exit(status)


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
