"""One run per output directory: a lock file naming its holder (host, pid, start time).

``run_lock(uri)`` creates ``<uri>/.lock`` and removes it on exit. A second run on the same
directory is refused with the holder's name. A lock left by a process that no longer exists on
this host is stale and taken over; a lock from another host cannot be checked and is refused
(the message says which file to remove). Local directories create the file exclusively
(``O_EXCL``); other filesystems check and write, which is as close as object stores allow.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import socket
import time
from collections.abc import Iterator

import fsspec

from engine._internal.atomic import is_local_filesystem
from engine._internal.process import pid_alive

__all__ = ["RunLockedError", "run_lock"]

log = logging.getLogger(f"duse.{__name__}")

LOCK_NAME = ".lock"


class RunLockedError(ValueError):
    """Another run holds the directory (a user error: one line, exit 2)."""


def _holder() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}


def _create(fs: fsspec.AbstractFileSystem, path: str, body: bytes) -> bool:
    """Create the lock file; False when it exists already."""
    if is_local_filesystem(fs):
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "wb") as stream:
            stream.write(body)
        return True
    if fs.exists(path):
        return False
    with fs.open(path, "wb") as stream:
        stream.write(body)
    return True


def _read(fs: fsspec.AbstractFileSystem, path: str) -> dict:
    try:
        with fs.open(path, "rb") as stream:
            return json.loads(stream.read() or b"{}")
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def run_lock(uri: str) -> Iterator[None]:
    """Hold ``<uri>/.lock`` for the block.

    Raises:
        RunLockedError: another live run (or a run on another host) holds the directory.
    """
    fs, path = fsspec.core.url_to_fs(str(uri))
    path = path.rstrip("/")
    fs.makedirs(path, exist_ok=True)
    lock = posixpath.join(path, LOCK_NAME)
    me = _holder()
    body = json.dumps(me).encode()
    if not _create(fs, lock, body):
        holder = _read(fs, lock)
        same_host = holder.get("host") == me["host"]
        if same_host and isinstance(holder.get("pid"), int) and not pid_alive(holder["pid"]):
            log.warning("%s: taking over the stale lock of pid %s", uri, holder["pid"])
            fs.rm(lock)
            if not _create(fs, lock, body):
                raise RunLockedError(f"{uri} is in use by another run that started just now")
        else:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
            raise RunLockedError(
                f"{uri} is in use by pid {holder.get('pid')} on {holder.get('host')} since "
                f"{since}; wait for it, or remove {lock} if that run is gone"
            )
    try:
        yield
    finally:
        with contextlib.suppress(OSError, FileNotFoundError):
            if _read(fs, lock).get("pid") == me["pid"]:
                fs.rm(lock)
