"""Atomic file writes on any fsspec URI: a file is complete under its final name or absent.

Every write is staged under a hidden sibling name, ``.NAME.partial-PID@HOST-<hex>``, in the
target's own directory (same filesystem, so the move is a rename), and moved onto the final name
once it is complete; if anything fails (also ``KeyboardInterrupt``), the staging is removed and
an existing file is left as it was. On a local filesystem the staged file is flushed to disk
(``fsync``) and moved with ``os.replace``, which is atomic on POSIX; on other filesystems
(object stores) it is moved with the filesystem's ``mv``, and a reader sees either the old or
the new object.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import fsspec

__all__ = [
    "is_local_filesystem",
    "remove_stale_staging",
    "staging_name",
    "text_writer",
    "write_bytes",
    "write_json",
    "write_text",
]


def staging_name(path: str) -> str:
    """The hidden sibling under which ``path`` is staged: ``DIR/.NAME.partial-PID@HOST-<hex>``
    (the owner's pid and host, so a later writer can tell a dead owner's staging)."""
    directory, name = posixpath.split(path.rstrip("/"))
    owner = f"{os.getpid()}@{socket.gethostname()}"
    return posixpath.join(directory, f".{name}.partial-{owner}-{uuid.uuid4().hex[:12]}")


def remove_stale_staging(fs: fsspec.AbstractFileSystem, path: str) -> list[str]:
    """Remove the staging of ``path`` left by processes of this host that no longer run.

    Returns:
        The paths removed.
    """
    from engine._internal.process import pid_alive

    directory, name = posixpath.split(path.rstrip("/"))
    if not fs.exists(directory or "."):
        return []
    pattern = re.compile(rf"^\.{re.escape(name)}\.partial-(\d+)@(.+)-[0-9a-f]+$")
    removed = []
    for entry in fs.ls(directory or ".", detail=False):
        match = pattern.match(posixpath.basename(entry.rstrip("/")))
        if match and match[2] == socket.gethostname() and not pid_alive(int(match[1])):
            with contextlib.suppress(FileNotFoundError):
                fs.rm(entry, recursive=True)
                removed.append(entry)
    return removed


def is_local_filesystem(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether ``fs`` is the local disk (renames are atomic there, ``O_EXCL`` works)."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    return "file" in protocols or "local" in protocols


def write_bytes(uri: str, payload: bytes | bytearray | memoryview) -> None:
    """Write ``payload`` to ``uri`` atomically (stage, then move; the staging goes on failure).

    The parent directory is created when missing.

    Args:
        uri: the file to write, a local path or any fsspec URI; an existing file is replaced.
        payload: the whole content.

    Raises:
        OSError: the write or the move failed (nothing is left under the staging name).
    """
    fs, path = fsspec.core.url_to_fs(str(uri))
    path = path.rstrip("/")
    directory = posixpath.dirname(path)
    if directory:
        fs.makedirs(directory, exist_ok=True)
    staging = staging_name(path)
    try:
        if is_local_filesystem(fs):
            with open(staging, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, path)
        else:
            with fs.open(staging, "wb") as handle:
                handle.write(bytes(payload))
            fs.mv(staging, path)
    except BaseException:
        with contextlib.suppress(OSError, FileNotFoundError):
            if fs.exists(staging):
                fs.rm(staging)
        raise


def write_text(uri: str, text: str) -> None:
    """:func:`write_bytes` of ``text`` encoded as UTF-8."""
    write_bytes(uri, text.encode("utf-8"))


def write_json(
    uri: str, body: Any, *, indent: int | None = None, default: Callable | None = None
) -> None:
    """:func:`write_text` of ``json.dumps(body, indent=indent, default=default)``."""
    write_text(uri, json.dumps(body, indent=indent, default=default))


@contextlib.contextmanager
def text_writer(uri: str) -> Iterator[io.StringIO]:
    """A text handle for writers that stream (``csv``, ``yaml.safe_dump``), written atomically.

    What the block writes is kept in memory and written to ``uri`` by :func:`write_text` when
    the block ends; a block that raises writes nothing. Line endings are written as given
    (like ``open(..., newline="")``).

    Args:
        uri: the file to write, a local path or any fsspec URI; an existing file is replaced.
    """
    handle = io.StringIO(newline="")
    yield handle
    write_text(uri, handle.getvalue())
