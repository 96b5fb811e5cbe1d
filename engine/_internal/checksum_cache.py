"""Which shards have already been checked against their SHA-256, so each is hashed once.

A shard is identified by its dataset, its name, its size, a *stamp* of its file (modification
time, change time and inode on a local disk; ``LastModified``/``ETag`` or the like on object
stores; ``created`` on ``memory://``) and the SHA-256 that ``dataset.json`` expects. Any
rewrite of the file changes the stamp (a local file's change time cannot be set back), any edit
of ``dataset.json`` changes the expected hash, and both make the shard be hashed again.

Two levels:

* in-process: a set of checked keys, so one run hashes a shard once however often it reads it;
* on disk: one small JSON file per dataset under ``$DUSE_CHECKSUM_CACHE`` (default
  ``${XDG_CACHE_HOME:-~/.cache}/duse/checksums``), so the Tune trials and Ray workers of one
  machine, and later runs, skip shards already checked there. ``DUSE_CHECKSUM_CACHE=off``
  turns it off. It is only used where the filesystem gives a stamp, holds at most
  :data:`MAX_FILES` files (the oldest are removed) and is never inside a dataset, so a copied
  or downloaded dataset cannot bring its own "already checked" claims. Failing to read or
  write it only costs a hash.

``duse data verify`` always hashes every shard, whatever the cache says (bit rot leaves the
stamp unchanged).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from pathlib import Path

__all__ = ["MAX_FILES", "ShardKey", "cache_dir", "clear", "is_checked", "remember", "stamp"]

log = logging.getLogger(f"duse.{__name__}")

MAX_FILES = 1024
_ENV = "DUSE_CHECKSUM_CACHE"
_STAMP_KEYS = (
    "mtime",
    "created",
    "ino",
    "LastModified",
    "last_modified",
    "updated",
    "ETag",
    "etag",
    "generation",
)

# (dataset, shard name, size_bytes, stamp or None, sha256)
ShardKey = tuple[str, str, int, str | None, str]

_checked: set[ShardKey] = set()
_loaded: set[str] = set()  # datasets whose disk entries were read into _checked
_lock = threading.Lock()


def stamp(info: dict) -> str | None:
    """What identifies one version of a file in ``fs.info`` output, ``None`` when nothing does."""
    parts = [f"{key}={info[key]}" for key in _STAMP_KEYS if info.get(key) not in (None, "")]
    return ";".join(parts) or None


def cache_dir() -> Path | None:
    """The on-disk cache directory, ``None`` when turned off (``DUSE_CHECKSUM_CACHE=off``)."""
    setting = os.environ.get(_ENV)
    if setting is not None and setting.strip().lower() in ("", "0", "off", "false", "no"):
        return None
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "duse" / "checksums"


def _file_of(directory: Path, dataset: str) -> Path:
    return directory / f"{hashlib.sha256(dataset.encode()).hexdigest()[:32]}.json"


def _read_entries(directory: Path, dataset: str) -> dict[str, list]:
    try:
        body = json.loads(_file_of(directory, dataset).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(body, dict) or body.get("dataset") != dataset:
        return {}
    shards = body.get("shards")
    return shards if isinstance(shards, dict) else {}


def _load(dataset: str) -> None:
    """Merge the disk entries of ``dataset`` into the in-process set (once per process)."""
    if dataset in _loaded:
        return
    _loaded.add(dataset)
    directory = cache_dir()
    if directory is None:
        return
    for name, entry in _read_entries(directory, dataset).items():
        if isinstance(entry, list) and len(entry) == 3 and entry[1] is not None:
            size, file_stamp, sha256 = entry
            _checked.add((dataset, name, size, file_stamp, sha256))


def is_checked(key: ShardKey) -> bool:
    """Whether this exact shard version was already found to match its SHA-256."""
    with _lock:
        _load(key[0])
        return key in _checked


def remember(key: ShardKey) -> None:
    """Record that this shard version matches its SHA-256 (on disk too, when it has a stamp)."""
    with _lock:
        _checked.add(key)
        directory = cache_dir()
        dataset, name, size, file_stamp, sha256 = key
        if directory is None or file_stamp is None:
            return
        try:
            _write_entry(directory, dataset, name, [size, file_stamp, sha256])
        except OSError as err:  # a read-only home costs a hash next time, nothing else
            log.debug("checksum cache not written (%s)", err)


def _write_entry(directory: Path, dataset: str, name: str, entry: list) -> None:
    from engine._internal.atomic import write_text

    directory.mkdir(parents=True, exist_ok=True)
    path = _file_of(directory, dataset)
    new_file = not path.exists()
    shards = _read_entries(directory, dataset)
    shards[name] = entry
    write_text(str(path), json.dumps({"dataset": dataset, "shards": shards}))
    if new_file:
        _prune(directory)


def _prune(directory: Path) -> None:
    """Keep the newest :data:`MAX_FILES` files (other processes may remove some meanwhile)."""
    files = []
    for path in directory.glob("*.json"):
        with contextlib.suppress(OSError):
            files.append((path.stat().st_mtime, path))
    files.sort()
    for _mtime, old in files[: max(0, len(files) - MAX_FILES)]:
        with contextlib.suppress(OSError):
            old.unlink()


def clear() -> None:
    """Forget the in-process entries (the disk cache is kept)."""
    with _lock:
        _checked.clear()
        _loaded.clear()
