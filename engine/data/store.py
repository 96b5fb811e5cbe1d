"""Read and write datasets in the canonical format on any fsspec URI.

A dataset directory is complete or absent: shards are written first, ``dataset.json`` (with
row counts and SHA-256 of every shard) last. Everything is staged under a hidden sibling
directory, so a failed write leaves an existing dataset untouched. On a local filesystem the
staged directory is renamed into place; elsewhere (``s3://``, ``memory://``, ...), where no
rename is atomic, the old dataset is removed only once the new one is complete, its shards are
moved in and ``dataset.json`` is written last: a directory without it is not a dataset.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import logging
import math
import numbers
import operator
import posixpath
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine._internal import checksum_cache
from engine._internal.atomic import is_local_filesystem, remove_stale_staging, staging_name
from engine._internal.hashing import sha256_file
from engine.data.schema import (
    EXTRA_COLUMNS,
    MAX_CLASSES,
    META_NAME,
    DatasetMeta,
    Frames,
    ShardInfo,
    arrow_schema,
    check_shard_name,
    frames_from_table,
    frames_to_table,
    validate_frames,
)

__all__ = [
    "DEFAULT_SHARD_BYTES",
    "DatasetWriter",
    "ShardMismatchError",
    "iter_frames",
    "read_frames",
    "read_index",
    "read_meta",
    "read_parquet",
    "to_ray_dataset",
    "verify",
    "write_shard",
]

log = logging.getLogger(f"duse.{__name__}")

DEFAULT_SHARD_BYTES = 128 * 2**20
# The unit a subset read skips (by the row group's id statistics). Smaller groups would skip
# finer, but each carries a ~1 MiB dictionary page of `iq` (measured: +3.8 % of the shard at
# 16 MiB, +7.7 % at 8 MiB, +15 % at 4 MiB).
_ROW_GROUP_BYTES = 16 * 2**20


def resolve(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and path of ``uri``; a clear error when it cannot be reached."""
    try:
        fs, path = fsspec.core.url_to_fs(str(uri))
    except (ImportError, ValueError) as err:
        raise ValueError(f"cannot open {uri!r}: {err}") from err
    return fs, path.rstrip("/")


def rows_per_shard(length: int, shard_bytes: int = DEFAULT_SHARD_BYTES) -> int:
    """How many frames of ``length`` samples fit a shard of about ``shard_bytes``."""
    if shard_bytes <= 0:
        raise ValueError(f"shard_bytes must be > 0, got {shard_bytes}")
    return max(1, shard_bytes // (8 * length + 14))


def write_shard(
    directory_uri: str, name: str, frames: Frames, *, snr_unknown_ok: bool = False
) -> ShardInfo:
    """Write one shard and return its record for ``dataset.json``.

    Args:
        directory_uri: the directory to write into (a writer's :attr:`DatasetWriter.staging_uri`).
        name: the shard's file name, ``part-NNNNN.parquet`` (:func:`shard_name`).
        frames: the rows, in canonical dtypes (:func:`engine.data.schema.validate_frames`).
        snr_unknown_ok: accept NaN (unknown) SNRs; register the shard with their count
            (:meth:`DatasetWriter.add_shard`).

    Raises:
        ValueError: a bad name, NaN/inf in ``iq``, inf SNR, NaN SNR unless ``snr_unknown_ok``,
            or repeated ids.
    """
    check_shard_name(name)
    length = np.shape(frames.iq)[-1] if np.ndim(frames.iq) else 0
    frames = validate_frames(frames, MAX_CLASSES, length, snr_unknown_ok=snr_unknown_ok)
    return _write_checked_shard(directory_uri, name, frames)


def _write_checked_shard(directory_uri: str, name: str, frames: Frames) -> ShardInfo:
    fs, directory = resolve(directory_uri)
    table = frames_to_table(frames)
    row_group = max(1, _ROW_GROUP_BYTES // (8 * frames.iq.shape[-1] + 14))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="none", row_group_size=row_group)
    payload = sink.getvalue()
    with fs.open(posixpath.join(directory, name), "wb") as handle:
        handle.write(payload)
    return ShardInfo(
        name=name,
        num_rows=len(frames),
        size_bytes=payload.size,
        sha256=hashlib.sha256(payload).hexdigest(),
        id_min=int(frames.ids.min()) if len(frames) else 0,
        id_max=int(frames.ids.max()) if len(frames) else -1,
    )


def check_sample_rate_hz(sample_rate_hz: float | None) -> float | None:
    """``sample_rate_hz`` as a float, or ``None``; an error unless finite and > 0."""
    if sample_rate_hz is None:
        return None
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, numbers.Real):
        raise ValueError(f"sample_rate_hz must be a number, got {sample_rate_hz!r}")
    if not math.isfinite(sample_rate_hz) or sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be finite and > 0, got {sample_rate_hz!r}")
    return float(sample_rate_hz)


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


class DatasetWriter:
    """Write a dataset atomically; use as a context manager.

    ``write`` buffers frames and flushes full shards; shards written elsewhere (Ray tasks
    writing into :attr:`staging_uri`) are registered with ``add_shard``. Leaving the block
    without an exception writes ``dataset.json`` and publishes the directory; an exception
    removes everything written.

    Args:
        uri: the dataset directory to create.
        classes: class names in label order.
        length: samples per frame.
        snr_grid_db: the SNR labels used (NaN, an unknown SNR, is left out of the grid).
        source: provenance recorded in ``dataset.json``.
        shard_bytes: target shard size.
        overwrite: replace an existing dataset at ``uri`` instead of failing.
        sample_rate_hz: the frames' sample rate in Hz (finite, > 0), or ``None`` if unknown.
        snr_unknown_ok: accept frames whose SNR is NaN (unknown); otherwise NaN SNR is an
            error. ``dataset.json`` records how many there are (``snr_unknown_rows``).
    """

    def __init__(
        self,
        uri: str,
        classes: Sequence[str],
        length: int,
        snr_grid_db: Sequence[float],
        source: dict[str, Any],
        *,
        shard_bytes: int = DEFAULT_SHARD_BYTES,
        overwrite: bool = False,
        sample_rate_hz: float | None = None,
        snr_unknown_ok: bool = False,
    ) -> None:
        if len(classes) < 1 or len(set(classes)) != len(classes):
            raise ValueError(f"classes must be non-empty and unique, got {list(classes)}")
        if not all(isinstance(name, str) and name for name in classes):
            raise ValueError(f"class names must be non-empty strings, got {list(classes)}")
        if len(classes) > MAX_CLASSES:
            raise ValueError(f"at most {MAX_CLASSES} classes fit int16 labels, got {len(classes)}")
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.fs, self.path = resolve(uri)
        self.uri = uri
        self.overwrite = overwrite
        grid = sorted(float(s) for s in snr_grid_db if not math.isnan(float(s)))
        self.meta = DatasetMeta(
            list(classes),
            int(length),
            grid,
            source,
            sample_rate_hz=check_sample_rate_hz(sample_rate_hz),
        )
        self.snr_unknown_ok = snr_unknown_ok
        self._snr_unknown_rows = 0
        self.rows_per_shard = rows_per_shard(length, shard_bytes)
        self._buffer: list[Frames] = []
        self._buffered = 0
        self._shards: list[ShardInfo] = []
        if self.fs.exists(self.path) and not overwrite:
            raise FileExistsError(f"{uri} already exists (pass overwrite to replace it)")
        for stale in remove_stale_staging(self.fs, self.path):  # a killed writer's
            log.info("removed stale staging %s", stale)
        self._staging = staging_name(self.path)
        self.fs.makedirs(self._staging, exist_ok=True)
        self.staging_uri = self._uri_of(self._staging)

    def _uri_of(self, path: str) -> str:
        return self.fs.unstrip_protocol(path)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frames: Frames) -> None:
        """Validate and buffer frames; full shards are flushed as they fill."""
        frames = validate_frames(
            frames, self.meta.num_classes, self.meta.length, snr_unknown_ok=self.snr_unknown_ok
        )
        self._snr_unknown_rows += int(np.isnan(frames.snr_db).sum())
        self._buffer.append(frames)
        self._buffered += len(frames)
        while self._buffered >= self.rows_per_shard:
            self._flush(self.rows_per_shard)

    def _flush(self, rows: int) -> None:
        merged = Frames.concat(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        head, tail = merged.take(slice(0, rows)), merged.take(slice(rows, None))  # views
        if len(np.unique(head.ids)) != rows:
            raise ValueError(f"ids repeat across write() calls in shard {self.next_shard_index}")
        self._buffer, self._buffered = [tail], len(tail)
        name = shard_name(self.next_shard_index)
        self.add_shard(_write_checked_shard(self.staging_uri, name, head))

    @property
    def next_shard_index(self) -> int:
        return len(self._shards)

    def add_shard(self, info: ShardInfo, *, snr_unknown_rows: int = 0) -> None:
        """Register a shard already written into :attr:`staging_uri`.

        Args:
            info: the shard's record (from :func:`write_shard`).
            snr_unknown_rows: how many of its frames have a NaN (unknown) SNR.
        """
        check_shard_name(info.name)
        if snr_unknown_rows and not self.snr_unknown_ok:
            raise ValueError(f"{info.name} has frames of unknown SNR; pass snr_unknown_ok=True")
        self._snr_unknown_rows += snr_unknown_rows
        self._shards.append(info)

    def close(self) -> DatasetMeta:
        """Flush, write ``dataset.json`` last and publish; on any failure remove the staging."""
        try:
            meta = self._finish()
        except BaseException:
            self.abort()
            raise
        self.meta = meta
        log.info("wrote %s: %d frames in %d shards", self.uri, meta.num_rows, len(meta.shards))
        return meta

    def _finish(self) -> DatasetMeta:
        if self._buffered:
            self._flush(self._buffered)
        shards = sorted(self._shards, key=lambda s: s.id_min)
        if not shards:
            raise ValueError(f"no frames were written to {self.uri}")
        for before, after in itertools.pairwise(shards):
            if after.id_min <= before.id_max:
                raise ValueError(f"ids overlap between shards {before.name} and {after.name}")
        meta = dataclasses.replace(
            self.meta, shards=shards, snr_unknown_rows=self._snr_unknown_rows
        )
        if self.fs.exists(self.path) and not self.overwrite:
            raise FileExistsError(f"{self.uri} appeared while writing; nothing was replaced")
        if is_local_filesystem(self.fs):
            self._write_meta(self._staging, meta)
            self._publish_by_rename()
        else:
            self._publish_by_moves(meta)
        return meta

    def _write_meta(self, directory: str, meta: DatasetMeta) -> None:
        with self.fs.open(posixpath.join(directory, META_NAME), "w") as handle:
            handle.write(meta.to_json())

    def _publish_by_rename(self) -> None:
        old = None
        if self.fs.exists(self.path):
            parent, base = posixpath.split(self.path)
            old = posixpath.join(parent, f".{base}.old-{uuid.uuid4().hex[:8]}")
            self.fs.mv(self.path, old, recursive=True)
        self.fs.mv(self._staging, self.path, recursive=True)
        if old is not None:
            self.fs.rm(old, recursive=True)

    def _publish_by_moves(self, meta: DatasetMeta) -> None:
        if self.fs.exists(self.path):
            old_meta = posixpath.join(self.path, META_NAME)
            if self.fs.exists(old_meta):
                self.fs.rm(old_meta)  # first: the old directory stops being a dataset
            self.fs.rm(self.path, recursive=True)
        self.fs.makedirs(self.path, exist_ok=True)
        for shard in meta.shards:
            self.fs.mv(
                posixpath.join(self._staging, shard.name), posixpath.join(self.path, shard.name)
            )
        self._write_meta(self.path, meta)
        self.fs.rm(self._staging, recursive=True)

    def abort(self) -> None:
        """Remove everything written so far."""
        if self.fs.exists(self._staging):
            self.fs.rm(self._staging, recursive=True)


def read_meta(uri: str) -> DatasetMeta:
    """Read ``dataset.json``.

    Raises:
        FileNotFoundError: ``uri`` is missing or holds no ``dataset.json`` (incomplete write).
        ValueError: ``dataset.json`` is not valid (one line naming the dataset and the key,
            see :meth:`engine.data.schema.DatasetMeta.from_json`).
    """
    fs, path = resolve(uri)
    meta_path = posixpath.join(path, META_NAME)
    if not fs.exists(meta_path):
        what = "does not exist" if not fs.exists(path) else f"has no {META_NAME} (incomplete?)"
        raise FileNotFoundError(f"{uri} is not a dataset: it {what}")
    with fs.open(meta_path, "rb") as handle:
        raw = handle.read()
    try:
        return DatasetMeta.from_json(raw.decode("utf-8"))
    except ValueError as err:  # also UnicodeDecodeError
        raise ValueError(f"{uri}: {_one_line(err)}") from None


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _shard_paths(uri: str, meta: DatasetMeta) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    """The shards' paths, each a plain file name inside the dataset directory."""
    fs, path = resolve(uri)
    paths = []
    for shard in meta.shards:
        try:
            check_shard_name(shard.name)
        except ValueError as err:
            raise ValueError(f"{uri}: {err}") from None
        paths.append(posixpath.join(path, shard.name))
    return fs, paths


def read_parquet(source: Any, columns: Sequence[str] | None = None) -> pa.Table:
    """One Parquet file (a path or an open binary file) as a table.

    Decoding is single-threaded: pyarrow 26's threaded reader, fed a Python file or buffer,
    aborts the interpreter at exit now and then ("terminate called without an active
    exception"); shards are uncompressed, so threads bought little.
    """
    return pq.read_table(
        source, columns=None if columns is None else list(columns), use_threads=False
    )


class ShardMismatchError(ValueError):
    """A shard differs from its record in ``dataset.json`` (missing, size or SHA-256)."""


def _shard_key(
    fs: fsspec.AbstractFileSystem, uri: str, shard: ShardInfo, info: dict
) -> checksum_cache.ShardKey:
    dataset = fs.unstrip_protocol(resolve(uri)[1])
    return (dataset, shard.name, int(info["size"]), checksum_cache.stamp(info), shard.sha256)


def _checked_shard(
    fs: fsspec.AbstractFileSystem, path: str, shard: ShardInfo, uri: str, *, keep: bool
) -> bytes | None:
    """Check a shard's size and SHA-256 against ``dataset.json`` before it is read.

    The size is compared on every read; the hash (and that the Parquet footer parses) once per
    version of the file (per process, and per machine through the on-disk cache,
    :mod:`engine._internal.checksum_cache`).

    Args:
        fs: the dataset's filesystem.
        path: the shard's path on it.
        shard: its record in ``dataset.json``.
        uri: the dataset, for messages.
        keep: when the shard has to be hashed, read it whole and return the bytes (the caller
            reads from them, so what was hashed is what is decoded).

    Returns:
        The shard's bytes when they were read and ``keep`` is set, else ``None``.

    Raises:
        ShardMismatchError: the shard is missing, or its size or SHA-256 differs.
        ValueError: it matches but its Parquet footer does not parse.
    """
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise ShardMismatchError(f"{uri}: shard {shard.name} is missing") from None
    if info.get("size") != shard.size_bytes:
        raise ShardMismatchError(
            f"{uri}: shard {shard.name} has {info.get('size')} bytes, dataset.json records "
            f"{shard.size_bytes} (changed or truncated; `duse data verify` lists every problem)"
        )
    key = _shard_key(fs, uri, shard, info)
    if checksum_cache.is_checked(key):
        return None
    digest, payload = _hash_shard(fs, path, keep)
    if digest != shard.sha256:
        raise ShardMismatchError(
            f"{uri}: shard {shard.name} does not match its SHA-256 in dataset.json "
            f"(changed or corrupt; `duse data verify` lists every problem)"
        )
    if payload is not None:  # the footer must parse too before the shard counts as checked
        _read_shard(pa.BufferReader(payload), [], False, uri, shard.name)
    else:
        with fs.open(path, "rb") as handle:
            _read_shard(handle, [], False, uri, shard.name)
    checksum_cache.remember(key)
    return payload


def _read_shard(
    source: Any,
    columns: list[str],
    extra: bool,
    uri: str,
    name: str,
    wanted: np.ndarray | None = None,
) -> pa.Table:
    """Decode one shard (a file or a buffer); a broken file is a one-line error naming it.

    With ``wanted`` (sorted unique ids), only the row groups whose id statistics admit some of
    them are decoded (:func:`_row_groups`) and only the rows holding them are returned.
    """
    try:
        shard = pq.ParquetFile(source)
        present = shard.schema_arrow.names if extra else []
        names = columns + [c for c in EXTRA_COLUMNS if c in present]
        if wanted is None:
            return shard.read(columns=names, use_threads=False)
        groups = _row_groups(shard.metadata, wanted)
        table = shard.read_row_groups(groups, columns=names, use_threads=False)
    except (pa.ArrowException, OSError) as err:  # pyarrow's IO and thrift errors are OSError
        raise _unreadable(uri, name, err) from None
    return table.filter(pc.is_in(table.column("id"), pa.array(wanted)))


def _unreadable(uri: str, name: str, err: BaseException) -> ValueError:
    return ValueError(f"{uri}: shard {name} cannot be read as a Parquet shard ({_one_line(err)})")


def _id_ranges(metadata: pq.FileMetaData) -> np.ndarray:
    """``[row groups, 2]`` smallest and largest id of each row group of a shard.

    From the ``id`` column's statistics; a row group without them spans every int64.
    """
    paths = [metadata.schema.column(j).path for j in range(metadata.num_columns)]
    bounds = np.empty((metadata.num_row_groups, 2), np.int64)
    bounds[:] = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    if "id" not in paths:  # not a shard of this schema: reading it says so
        return bounds
    column = paths.index("id")
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(column).statistics
        if stats is not None and stats.has_min_max:
            bounds[group] = stats.min, stats.max
    return bounds


def _holds(bounds: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Which inclusive ``[k, 2]`` id ranges hold some of the sorted ``wanted`` ids."""
    return np.searchsorted(wanted, bounds[:, 1], side="right") > np.searchsorted(
        wanted, bounds[:, 0]
    )


def _row_groups(metadata: pq.FileMetaData, wanted: np.ndarray) -> list[int]:
    """The row groups of a shard that can hold some of the sorted ``wanted`` ids."""
    return np.flatnonzero(_holds(_id_ranges(metadata), wanted)).tolist()


def _wanted_in(shard: ShardInfo, wanted: np.ndarray) -> np.ndarray:
    """The part of the sorted ``wanted`` ids inside the shard's recorded id range."""
    lo, hi = np.searchsorted(wanted, [shard.id_min, shard.id_max + 1])
    return wanted[lo:hi]


def iter_frames(
    uri: str, *, with_iq: bool = True, ids: np.ndarray | None = None, extra: bool = False
) -> Iterator[Frames]:
    """Yield the dataset shard by shard (memory bounded by one shard).

    Every shard is checked against ``dataset.json`` before it is used (size always, SHA-256
    once per version of the file: :func:`_checked_shard`).

    Args:
        uri: dataset directory.
        with_iq: read the ``iq`` column too (otherwise only ``id, label, snr``).
        ids: keep only these ids. Shards whose recorded id range holds none are not opened,
            and of the others only the row groups whose id statistics admit some are
            decoded (a subset costs about its share of the row groups).
        extra: read the provenance columns (``schema.EXTRA_COLUMNS``) the shards have.

    Raises:
        ShardMismatchError: a shard is missing or differs from ``dataset.json``.
        ValueError: a shard is not a readable Parquet file (named with the dataset).
    """
    meta = read_meta(uri)
    fs, paths = _shard_paths(uri, meta)
    columns = ["id", "label", "snr"] + (["iq"] if with_iq else [])
    wanted = None if ids is None else np.unique(np.asarray(ids, np.int64))
    for shard, path in zip(meta.shards, paths, strict=True):
        inside = None if wanted is None else _wanted_in(shard, wanted)
        if inside is not None and len(inside) == 0:
            continue
        payload = _checked_shard(fs, path, shard, uri, keep=with_iq)
        if payload is not None:
            table = _read_shard(pa.BufferReader(payload), columns, extra, uri, shard.name, inside)
            del payload
        else:
            with fs.open(path, "rb") as handle:
                table = _read_shard(handle, columns, extra, uri, shard.name, inside)
        yield frames_from_table(table)


def read_frames(
    uri: str, ids: np.ndarray | None = None, *, with_iq: bool = True, extra: bool = False
) -> Frames:
    """Read a whole (small) dataset, or the rows with the given ``ids``, into numpy.

    ``extra`` also reads the provenance columns the dataset has (:func:`iter_frames`).

    Raises:
        KeyError: some of ``ids`` are not in the dataset.
    """
    frames = Frames.concat(list(iter_frames(uri, with_iq=with_iq, ids=ids, extra=extra)))
    if ids is not None:
        missing = np.setdiff1d(np.asarray(ids, np.int64), frames.ids)
        if len(missing):
            raise KeyError(f"{len(missing)} ids not in {uri}, e.g. {missing[:5].tolist()}")
    return frames


def read_index(uri: str) -> Frames:
    """The ``id, label, snr`` columns of every frame (no IQ), cheap even for large sets."""
    return read_frames(uri, with_iq=False)


def to_ray_dataset(
    uri: str,
    columns: Sequence[str] | None = None,
    ids: np.ndarray | None = None,
    **read_args: Any,
):
    """The dataset as a lazy ``ray.data.Dataset`` (``iq`` batches come out as ``[n, 2, L]``).

    Every shard used is checked against ``dataset.json`` here, in the calling process, before
    Ray reads it (size always, SHA-256 and Parquet footer once per version of the file), so a
    broken shard is a one-line error naming it rather than a failed Ray task.

    Args:
        uri: dataset directory.
        columns: columns to read (default all).
        ids: read only where these ids are: shards whose recorded id range holds none are left
            out (neither checked nor read), and a filter on ``id`` ranges, pushed down to the
            Parquet reader, skips the row groups whose statistics hold none. The filter is by
            range, not exact: other ids of the row groups read come out too (the scoring actors
            keep the wanted rows).
        **read_args: passed to ``ray.data.read_parquet`` (e.g. ``override_num_blocks``).

    Raises:
        ShardMismatchError: a shard used is missing or differs from ``dataset.json``.
        ValueError: a shard used is not a readable Parquet file.
    """
    import ray.data

    meta = read_meta(uri)
    fs, paths = _shard_paths(uri, meta)
    wanted = None if ids is None else np.unique(np.asarray(ids, np.int64))
    used = []
    for shard, path in zip(meta.shards, paths, strict=True):
        if wanted is None or len(_wanted_in(shard, wanted)):
            _checked_shard(fs, path, shard, uri, keep=False)
            used.append((shard, path))
    if not used:
        empty = arrow_schema(meta.length).empty_table()
        return ray.data.from_arrow(empty.select(list(columns)) if columns else empty)
    dataset = ray.data.read_parquet([path for _shard, path in used], filesystem=fs, **read_args)
    ranges = None if wanted is None else _read_ranges(fs, used, wanted, uri)
    if ranges is not None:
        dataset = dataset.filter(expr=_ranges_expression(ranges))
    return dataset.select_columns(list(columns)) if columns else dataset


_MAX_ID_RANGES = 64  # terms of the pushed-down id filter; more are merged across small gaps


def _read_ranges(
    fs: fsspec.AbstractFileSystem,
    used: list[tuple[ShardInfo, str]],
    wanted: np.ndarray,
    uri: str,
) -> list[list[int]] | None:
    """Inclusive id ranges (at most ``_MAX_ID_RANGES``) covering the row groups that can hold
    ``wanted`` ids, from the shards' footers; ``None`` when no row group can be skipped."""
    kept, skipped = [], 0
    for shard, path in used:
        try:
            with fs.open(path, "rb") as handle:
                bounds = _id_ranges(pq.read_metadata(handle))
        except (pa.ArrowException, OSError) as err:
            raise _unreadable(uri, shard.name, err) from None
        hit = _holds(bounds, _wanted_in(shard, wanted))
        kept.append(bounds[hit])
        skipped += int((~hit).sum())
    kept = np.concatenate(kept)
    unknown = (kept == [np.iinfo(np.int64).min, np.iinfo(np.int64).max]).all(axis=1)
    if not skipped or unknown.any():  # nothing to skip, or a row group without statistics
        return None
    return _coarsened(_merged(kept), _MAX_ID_RANGES)


def _merged(ranges: np.ndarray) -> list[list[int]]:
    """Inclusive ``[k, 2]`` id ranges sorted, overlapping and touching ones joined."""
    runs: list[list[int]] = []
    for lo, hi in sorted(ranges.tolist()):  # Python ints: no overflow at the int64 ends
        if runs and lo <= runs[-1][1] + 1:
            runs[-1][1] = max(runs[-1][1], hi)
        else:
            runs.append([lo, hi])
    return runs


def _coarsened(runs: list[list[int]], most: int) -> list[list[int]]:
    """At most ``most`` ranges covering the sorted disjoint ``runs``: the smallest gaps between
    them are closed (a coarser filter, never a wrong one)."""
    if len(runs) <= most:
        return runs
    gaps = [after[0] - before[1] for before, after in itertools.pairwise(runs)]
    cuts = sorted(sorted(range(len(gaps)), key=gaps.__getitem__)[len(gaps) - (most - 1) :])
    firsts, lasts = [0, *(cut + 1 for cut in cuts)], [*cuts, len(runs) - 1]
    return [[runs[a][0], runs[b][1]] for a, b in zip(firsts, lasts, strict=True)]


def _ranges_expression(ranges: list[list[int]]):
    """A Ray Data predicate: ``id`` inside one of the inclusive ``ranges``."""
    from ray.data.expressions import col

    terms = [(col("id") >= lo) & (col("id") <= hi) for lo, hi in ranges]
    return functools.reduce(operator.or_, terms)


def _hash_shard(fs: fsspec.AbstractFileSystem, path: str, keep: bool) -> tuple[str, bytes | None]:
    """SHA-256 of a file, and its bytes when ``keep`` (read whole) rather than streamed."""
    if keep:
        payload = fs.cat_file(path)
        return hashlib.sha256(payload).hexdigest(), payload
    return sha256_file(path, fs)[0], None


def verify(uri: str) -> list[str]:
    """Check every shard against ``dataset.json`` and its content; return the problems found.

    Every shard is hashed (whatever the checksum cache says) and decoded whole. Checked:
    presence, size and SHA-256; that it is a readable Parquet file of the schema; its row
    count and id range against ``dataset.json``; labels inside the class list; no NaN/inf in
    ``iq``, no inf SNR; no id twice within a shard or in more than one shard; id ranges in
    ``dataset.json`` that do not overlap; and the number of NaN (unknown) SNRs equal to
    ``snr_unknown_rows``.

    Returns:
        One line per problem, each starting with the shard's name where it concerns one shard;
        empty when the dataset is sound.

    Raises:
        FileNotFoundError: ``uri`` holds no dataset.
        ValueError: ``dataset.json`` itself is invalid (:func:`read_meta`).
    """
    meta = read_meta(uri)
    fs, paths = _shard_paths(uri, meta)
    problems: list[str] = []
    shard_ids: list[tuple[str, np.ndarray]] = []
    snr_unknown = 0
    for shard, path in zip(meta.shards, paths, strict=True):
        try:
            payload = fs.cat_file(path)
        except FileNotFoundError:
            problems.append(f"{shard.name}: missing")
            continue
        if len(payload) != shard.size_bytes:
            problems.append(
                f"{shard.name}: checksum mismatch (size {len(payload)} bytes, dataset.json "
                f"says {shard.size_bytes})"
            )
            continue
        if hashlib.sha256(payload).hexdigest() != shard.sha256:
            problems.append(f"{shard.name}: checksum mismatch")
            continue
        with contextlib.suppress(OSError, KeyError):
            checksum_cache.remember(_shard_key(fs, uri, shard, fs.info(path)))
        try:
            table = read_parquet(pa.BufferReader(payload))
        except (pa.ArrowException, OSError) as err:
            problems.append(f"{shard.name}: cannot be read as a Parquet shard ({_one_line(err)})")
            continue
        del payload
        found = _shard_problems(shard, table, meta)
        problems += found[0]
        if found[1] is not None:
            shard_ids.append((shard.name, found[1]))
            snr_unknown += found[2]
    problems += _id_problems(meta, shard_ids)
    if snr_unknown != meta.snr_unknown_rows:
        problems.append(
            f"{snr_unknown} frames have a NaN (unknown) SNR, dataset.json declares "
            f"snr_unknown_rows = {meta.snr_unknown_rows}"
        )
    return problems


def _shard_problems(
    shard: ShardInfo, table: pa.Table, meta: DatasetMeta
) -> tuple[list[str], np.ndarray | None, int]:
    """Problems of one decoded shard, its ids (``None`` when unusable), its NaN-SNR count."""
    name, problems = shard.name, []
    expected = arrow_schema(meta.length, [c for c in EXTRA_COLUMNS if c in table.column_names])
    if not table.schema.equals(expected):
        return [f"{name}: schema {table.schema} differs from {expected}"], None, 0
    if len(table) != shard.num_rows:
        problems.append(f"{name}: {len(table)} rows, dataset.json says {shard.num_rows}")
    frames = frames_from_table(table)
    ids = frames.ids
    unique, counts = np.unique(ids, return_counts=True)
    if len(unique) != len(ids):
        repeated = unique[counts > 1]
        problems.append(
            f"{name}: {len(repeated)} ids occur more than once, e.g. {repeated[:5].tolist()}"
        )
    if len(ids) and (int(ids.min()), int(ids.max())) != (shard.id_min, shard.id_max):
        problems.append(f"{name}: id range differs from dataset.json")
    labels = frames.labels
    if len(labels) and (labels.min() < 0 or labels.max() >= meta.num_classes):
        problems.append(f"{name}: labels outside the class list")
    infinite = np.isinf(frames.snr_db)
    if infinite.any():
        problems.append(
            f"{name}: {int(infinite.sum())} frames have an inf SNR "
            f"(first id {int(ids[np.argmax(infinite)])})"
        )
    bad_iq = ~np.isfinite(frames.iq).reshape(len(ids), -1).all(axis=1)
    if bad_iq.any():
        problems.append(
            f"{name}: {int(bad_iq.sum())} frames hold NaN or inf IQ "
            f"(first id {int(ids[np.argmax(bad_iq)])})"
        )
    return problems, unique, int(np.isnan(frames.snr_db).sum())


def _id_problems(meta: DatasetMeta, shard_ids: list[tuple[str, np.ndarray]]) -> list[str]:
    """Ids in more than one shard, and overlapping id ranges in ``dataset.json``."""
    problems = []
    if len(shard_ids) > 1:
        every = np.concatenate([ids for _name, ids in shard_ids])
        owner = np.concatenate([np.full(len(ids), k) for k, (_n, ids) in enumerate(shard_ids)])
        order = np.argsort(every, kind="stable")
        every, owner = every[order], owner[order]
        twice = np.flatnonzero(every[1:] == every[:-1])
        if len(twice):
            shared = np.unique(every[twice])
            names = sorted({shard_ids[k][0] for k in np.unique(owner[np.r_[twice, twice + 1]])})
            problems.append(
                f"{len(shared)} ids occur in more than one shard ({', '.join(names)}), "
                f"e.g. {shared[:5].tolist()}"
            )
    recorded = sorted((s for s in meta.shards if s.num_rows), key=lambda s: s.id_min)
    for before, after in itertools.pairwise(recorded):
        if after.id_min <= before.id_max:
            problems.append(
                f"{before.name}, {after.name}: id ranges overlap in dataset.json "
                f"([{before.id_min}, {before.id_max}] and [{after.id_min}, {after.id_max}])"
            )
    return problems
