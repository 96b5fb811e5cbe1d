"""The canonical on-disk format: Parquet shards of IQ frames plus one ``dataset.json``.

Columns (one row per frame):

* ``id``    int64, stable and unique within a dataset;
* ``label`` int16, index into the class list of ``dataset.json``;
* ``snr``   float32, SNR label in dB; NaN means the SNR is unknown (recordings without SNR
  labels, written only with ``DatasetWriter(..., snr_unknown_ok=True)``), never ±inf;
* ``iq``    float32 tensor of shape ``[2, L]`` (rows I and Q), stored as Arrow's canonical
  ``arrow.fixed_shape_tensor`` extension type, which both pyarrow and ``ray.data.read_parquet``
  turn back into ``[n, 2, L]`` numpy arrays.

Optional provenance columns follow, in :data:`EXTRA_COLUMNS` order, in datasets built from
other datasets (an expansion's working set, an export): ``source`` (``target``, ``test``,
``pool``), ``source_id`` (the frame's id in its own dataset), ``source_class`` (its class name
there) and ``round`` (the expansion round that selected it, 0 for the target).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "EXTRA_COLUMNS",
    "FORMAT_VERSION",
    "MAX_CLASSES",
    "META_NAME",
    "SHARD_NAME_PATTERN",
    "DatasetMeta",
    "Frames",
    "ShardInfo",
    "arrow_schema",
    "check_shard_name",
    "frames_from_table",
    "frames_to_table",
    "validate_frames",
]

FORMAT_VERSION = 1
META_NAME = "dataset.json"
# Labels are int16 indices into the class list, 0 .. 32767: at most 32768 classes.
MAX_CLASSES = int(np.iinfo(np.int16).max) + 1
EXTRA_COLUMNS: dict[str, pa.DataType] = {
    "source": pa.string(),
    "source_id": pa.int64(),
    "source_class": pa.string(),
    "round": pa.int16(),
}


def arrow_schema(length: int, extra: tuple[str, ...] | list[str] = ()) -> pa.Schema:
    """Arrow schema of a shard holding frames of ``length`` samples (and ``extra`` columns)."""
    unknown = sorted(set(extra) - set(EXTRA_COLUMNS))
    if unknown:
        raise ValueError(f"unknown extra columns {unknown}; known: {list(EXTRA_COLUMNS)}")
    return pa.schema(
        [
            ("id", pa.int64()),
            ("label", pa.int16()),
            ("snr", pa.float32()),
            ("iq", pa.fixed_shape_tensor(pa.float32(), [2, length])),
            *((name, kind) for name, kind in EXTRA_COLUMNS.items() if name in extra),
        ]
    )


@dataclass(frozen=True)
class Frames:
    """A batch of frames in memory.

    Attributes:
        ids: int64 ``[n]``.
        labels: int16 ``[n]``.
        snr_db: float32 ``[n]``, dB; NaN where the SNR is unknown.
        iq: float32 ``[n, 2, L]``; ``None`` when only the index columns were read.
        extra: provenance columns (names from :data:`EXTRA_COLUMNS`), each ``[n]``; ``None``
            when there are none or they were not read.
    """

    ids: np.ndarray
    labels: np.ndarray
    snr_db: np.ndarray
    iq: np.ndarray | None = None
    extra: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def length(self) -> int:
        """Samples per frame ``L``."""
        if self.iq is None:
            raise ValueError("these frames were read without the iq column")
        return self.iq.shape[-1]

    def take(self, index: np.ndarray | slice) -> Frames:
        """The frames at positions ``index`` (positions or a slice, not ids)."""
        iq = None if self.iq is None else self.iq[index]
        extra = None if self.extra is None else {k: v[index] for k, v in self.extra.items()}
        return Frames(self.ids[index], self.labels[index], self.snr_db[index], iq, extra)

    @staticmethod
    def concat(parts: list[Frames]) -> Frames:
        """Concatenate batches (all with or all without ``iq``)."""
        if not parts:
            return Frames(
                np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.float32), None
            )
        iq = None if parts[0].iq is None else np.concatenate([p.iq for p in parts])
        extra = None
        if parts[0].extra is not None:
            extra = {k: np.concatenate([p.extra[k] for p in parts]) for k in parts[0].extra}
        return Frames(
            np.concatenate([p.ids for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.snr_db for p in parts]),
            iq,
            extra,
        )


def validate_frames(
    frames: Frames, num_classes: int, length: int, *, snr_unknown_ok: bool = False
) -> Frames:
    """Check shapes, dtypes, label range and finiteness; return the frames in canonical dtypes.

    Args:
        frames: the batch to check.
        num_classes: labels must lie in ``[0, num_classes)``.
        length: samples per frame ``L``.
        snr_unknown_ok: accept NaN SNRs (unknown SNR); ±inf is refused either way.

    Raises:
        ValueError: on a wrong shape, a label outside ``[0, num_classes)``, NaN/inf in ``iq``,
            inf SNR, NaN SNR unless ``snr_unknown_ok``, or repeated ids.
    """
    n = len(frames.ids)
    iq = np.asarray(frames.iq)
    if iq.ndim != 3 or iq.shape[1:] != (2, length):
        raise ValueError(f"iq must have shape [n, 2, {length}], got {list(iq.shape)}")
    for name, values in (("labels", frames.labels), ("snr_db", frames.snr_db), ("iq", iq)):
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} rows, ids has {n}")
    if not np.isfinite(iq).all():
        bad = int(np.flatnonzero(~np.isfinite(iq).reshape(n, -1).all(axis=1))[0])
        raise ValueError(f"iq holds NaN or inf (first at row {bad}, id {int(frames.ids[bad])})")
    snr_db = np.asarray(frames.snr_db, np.float32)
    _check_snr(snr_db, frames.ids, snr_unknown_ok)
    labels = np.asarray(frames.labels)
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.issubdtype(labels.dtype, np.floating) or not np.all(labels == np.round(labels)):
            raise ValueError(f"labels must be whole numbers, got dtype {labels.dtype}")
        labels = labels.astype(np.int64)
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}) for {num_classes} classes, "
            f"got range [{labels.min()}, {labels.max()}]"
        )
    ids = np.asarray(frames.ids, np.int64)
    if len(np.unique(ids)) != n:
        raise ValueError("ids are not unique")
    extra = _checked_extra(frames.extra, n)
    return Frames(ids, labels.astype(np.int16), snr_db, iq.astype(np.float32, copy=False), extra)


def _check_snr(snr_db: np.ndarray, ids: np.ndarray, snr_unknown_ok: bool) -> None:
    """±inf is never an SNR; NaN (unknown) only where the writer was told to expect it."""
    infinite = np.isinf(snr_db)
    if infinite.any():
        bad = int(np.flatnonzero(infinite)[0])
        raise ValueError(f"snr holds inf (first at row {bad}, id {int(ids[bad])})")
    unknown = np.isnan(snr_db)
    if unknown.any() and not snr_unknown_ok:
        bad = int(np.flatnonzero(unknown)[0])
        raise ValueError(
            f"snr holds NaN (first at row {bad}, id {int(ids[bad])}); NaN means an unknown "
            "SNR and is accepted only when the writer is told so (snr_unknown_ok=True)"
        )


def _checked_extra(extra: dict[str, np.ndarray] | None, n: int) -> dict[str, np.ndarray] | None:
    if not extra:
        return None
    arrow_schema(1, list(extra))  # unknown names are an error
    for name, values in extra.items():
        if len(values) != n:
            raise ValueError(f"extra column {name} has {len(values)} rows, ids has {n}")
    return {name: np.asarray(extra[name]) for name in EXTRA_COLUMNS if name in extra}


def frames_to_table(frames: Frames) -> pa.Table:
    """Frames (canonical dtypes, see :func:`validate_frames`) to an Arrow table of the schema."""
    _n, _, length = frames.iq.shape
    flat = pa.array(np.ascontiguousarray(frames.iq, np.float32).reshape(-1))
    storage = pa.FixedSizeListArray.from_arrays(flat, 2 * length)
    iq = pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(pa.float32(), [2, length]), storage)
    columns = [pa.array(frames.ids), pa.array(frames.labels), pa.array(frames.snr_db), iq]
    extra = frames.extra or {}
    schema = arrow_schema(length, list(extra))
    columns += [pa.array(extra[f.name], f.type) for f in list(schema)[4:]]
    return pa.Table.from_arrays(columns, schema=schema)


def frames_from_table(table: pa.Table) -> Frames:
    """Arrow table (all columns, or ``id, label, snr`` only) back to :class:`Frames`."""
    iq = None
    if "iq" in table.column_names:
        column = table.column("iq").combine_chunks()
        if isinstance(column, pa.ExtensionArray):
            column = column.storage
        shape = table.schema.field("iq").type.shape
        iq = column.flatten().to_numpy().reshape(len(table), *shape)
    extra = {
        name: table.column(name).to_numpy(zero_copy_only=False)
        for name in EXTRA_COLUMNS
        if name in table.column_names
    }
    return Frames(
        table.column("id").to_numpy(),
        table.column("label").to_numpy(),
        table.column("snr").to_numpy(),
        iq,
        extra or None,
    )


@dataclass(frozen=True)
class ShardInfo:
    """One Parquet shard as recorded in ``dataset.json``."""

    name: str
    num_rows: int
    size_bytes: int
    sha256: str
    id_min: int
    id_max: int


@dataclass(frozen=True)
class DatasetMeta:
    """The contents of ``dataset.json``.

    Attributes:
        classes: class names in label order.
        length: samples per frame ``L``.
        snr_grid_db: the SNR labels the dataset uses, ascending (known SNRs only, no NaN).
        source: where the data came from (profile and parameters, or file and checksum).
        shards: every shard, in id order.
        format_version: the layout version (:data:`FORMAT_VERSION`).
        sample_rate_hz: the sample rate of the frames in Hz, ``None`` when unknown (generated
            profiles, RML files converted without ``sample_rate_hz``).
        snr_unknown_rows: how many frames have an unknown (NaN) SNR.
    """

    classes: list[str]
    length: int
    snr_grid_db: list[float]
    source: dict[str, Any]
    shards: list[ShardInfo] = field(default_factory=list)
    format_version: int = FORMAT_VERSION
    sample_rate_hz: float | None = None
    snr_unknown_rows: int = 0

    @property
    def num_rows(self) -> int:
        return sum(s.num_rows for s in self.shards)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_json(self) -> str:
        body = asdict(self)
        body["num_rows"] = self.num_rows
        return json.dumps(body, indent=2)

    @classmethod
    def from_json(cls, text: str) -> DatasetMeta:
        """Parse ``dataset.json``, checking every key's type.

        Raises:
            ValueError: not JSON, not an object, an unknown or missing key, a value of the wrong
                type (the message names the key, e.g. ``shards[2].name``), a shard name that is
                not a plain ``part-NNNNN.parquet`` file name, or an unsupported
                ``format_version``.
        """
        try:
            body = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{META_NAME} is not valid JSON: {err}") from None
        return _meta_from_body(cls, body)


SHARD_NAME_PATTERN = re.compile(r"part-[0-9]{1,12}\.parquet")
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_META_KEYS = {"num_rows"}  # written for people (the sum over the shards), checked on reading


def check_shard_name(name: object) -> str:
    """``name`` if it is a shard file name ``part-NNNNN.parquet``; a ``ValueError`` otherwise.

    Shard names in ``dataset.json`` are joined to the dataset directory; a name with a
    separator, ``..`` or an absolute path would read a file outside it.
    """
    if not isinstance(name, str) or not SHARD_NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"shard name {name!r} is not a shard file name (part-NNNNN.parquet inside the "
            "dataset directory)"
        )
    return name


def _fail(key: str, expected: str, value: object) -> ValueError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ValueError(
        f"{META_NAME}: key {key!r} must be {expected}, got {type(value).__name__} {shown}"
    )


def _int(body: dict, key: str, where: str = "", minimum: int | None = None) -> int:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where + key, "an integer", value)
    if minimum is not None and value < minimum:
        raise _fail(where + key, f"an integer >= {minimum}", value)
    return value


def _number(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(key, "a finite number", value)
    return float(value)


def _shard_from_body(body: object, index: int) -> ShardInfo:
    where = f"shards[{index}]"
    if not isinstance(body, dict):
        raise _fail(where, "an object", body)
    names = [f.name for f in fields(ShardInfo)]
    unknown = sorted(set(body) - set(names))
    if unknown:
        raise ValueError(f"{META_NAME}: {where} has unknown key(s) {unknown}; known: {names}")
    missing = [k for k in names if k not in body]
    if missing:
        raise ValueError(f"{META_NAME}: {where} lacks key(s) {missing}")
    try:
        name = check_shard_name(body["name"])
    except ValueError as err:
        raise ValueError(f"{META_NAME}: key '{where}.name': {err}") from None
    sha256 = body["sha256"]
    if not isinstance(sha256, str) or not _SHA256_PATTERN.fullmatch(sha256):
        raise _fail(f"{where}.sha256", "64 lowercase hex digits", sha256)
    shard = ShardInfo(
        name=name,
        num_rows=_int(body, "num_rows", f"{where}.", 0),
        size_bytes=_int(body, "size_bytes", f"{where}.", 0),
        sha256=sha256,
        id_min=_int(body, "id_min", f"{where}."),
        id_max=_int(body, "id_max", f"{where}."),
    )
    if shard.num_rows and shard.id_max - shard.id_min + 1 < shard.num_rows:
        raise ValueError(
            f"{META_NAME}: {where} ({name}) holds {shard.num_rows} rows, more than its id range "
            f"[{shard.id_min}, {shard.id_max}] has unique ids"
        )
    return shard


def _meta_from_body(cls: type[DatasetMeta], body: object) -> DatasetMeta:
    if not isinstance(body, dict):
        raise ValueError(f"{META_NAME} must hold a JSON object, got {type(body).__name__}")
    known = {f.name for f in fields(cls)} | _META_KEYS
    unknown = sorted(set(body) - known)
    if unknown:
        raise ValueError(f"{META_NAME}: unknown key(s) {unknown}; known: {sorted(known)}")
    missing = [k for k in ("classes", "length", "snr_grid_db", "source", "shards") if k not in body]
    if missing:
        raise ValueError(f"{META_NAME} lacks key(s) {missing}")
    version = body.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ValueError(f"unsupported dataset format_version {version!r}")
    classes = body["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
        raise _fail("classes", "a list of non-empty class names", classes)
    if not classes or len(set(classes)) != len(classes):
        raise _fail("classes", "a non-empty list of unique class names", classes)
    grid = body["snr_grid_db"]
    if not isinstance(grid, list):
        raise _fail("snr_grid_db", "a list of numbers", grid)
    source = body["source"]
    if not isinstance(source, dict):
        raise _fail("source", "an object", source)
    shards_body = body["shards"]
    if not isinstance(shards_body, list):
        raise _fail("shards", "a list of shard objects", shards_body)
    shards = [_shard_from_body(s, k) for k, s in enumerate(shards_body)]
    repeated = sorted(name for name, count in Counter(s.name for s in shards).items() if count > 1)
    if repeated:
        raise ValueError(f"{META_NAME}: key 'shards' lists {repeated} more than once")
    rate = body.get("sample_rate_hz")
    if rate is not None and _number(rate, "sample_rate_hz") <= 0:
        raise _fail("sample_rate_hz", "a number > 0 or null", rate)
    total = sum(s.num_rows for s in shards)
    if "num_rows" in body and _int(body, "num_rows", "", 0) != total:
        raise ValueError(
            f"{META_NAME}: key 'num_rows' is {body['num_rows']}, the shards hold {total} rows"
        )
    # both keys are absent from dataset.json files written before they existed
    unknown_snr = _int(body, "snr_unknown_rows", "", 0) if "snr_unknown_rows" in body else 0
    if unknown_snr > total:
        raise _fail("snr_unknown_rows", f"at most num_rows ({total})", unknown_snr)
    parsed = {
        "classes": list(classes),
        "length": _int(body, "length", "", 1),
        "snr_grid_db": [_number(v, f"snr_grid_db[{k}]") for k, v in enumerate(grid)],
        "source": source,
        "shards": shards,
        "format_version": version,
        "sample_rate_hz": None if rate is None else float(rate),
        "snr_unknown_rows": unknown_snr,
    }
    # a field added to DatasetMeta later is passed through as stored
    extra = {k: body[k] for k in known - set(parsed) - _META_KEYS if k in body}
    return cls(**parsed, **extra)
