"""The canonical on-disk format: Parquet shards of IQ frames plus one ``dataset.json``.

Columns (one row per frame):

* ``id``    int64, stable and unique within a dataset;
* ``label`` int16, index into the class list of ``dataset.json``;
* ``snr``   float32, SNR label in dB;
* ``iq``    float32 tensor of shape ``[2, L]`` (rows I and Q), stored as Arrow's canonical
  ``arrow.fixed_shape_tensor`` extension type, which both pyarrow and ``ray.data.read_parquet``
  turn back into ``[n, 2, L]`` numpy arrays.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "FORMAT_VERSION",
    "META_NAME",
    "DatasetMeta",
    "Frames",
    "ShardInfo",
    "arrow_schema",
    "frames_from_table",
    "frames_to_table",
    "validate_frames",
]

FORMAT_VERSION = 1
META_NAME = "dataset.json"


def arrow_schema(length: int) -> pa.Schema:
    """Arrow schema of a shard holding frames of ``length`` samples."""
    return pa.schema(
        [
            ("id", pa.int64()),
            ("label", pa.int16()),
            ("snr", pa.float32()),
            ("iq", pa.fixed_shape_tensor(pa.float32(), [2, length])),
        ]
    )


@dataclass(frozen=True)
class Frames:
    """A batch of frames in memory.

    Attributes:
        ids: int64 ``[n]``.
        labels: int16 ``[n]``.
        snr_db: float32 ``[n]``.
        iq: float32 ``[n, 2, L]``; ``None`` when only the index columns were read.
    """

    ids: np.ndarray
    labels: np.ndarray
    snr_db: np.ndarray
    iq: np.ndarray | None = None

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
        return Frames(self.ids[index], self.labels[index], self.snr_db[index], iq)

    @staticmethod
    def concat(parts: list[Frames]) -> Frames:
        """Concatenate batches (all with or all without ``iq``)."""
        if not parts:
            return Frames(
                np.zeros(0, np.int64), np.zeros(0, np.int16), np.zeros(0, np.float32), None
            )
        iq = None if parts[0].iq is None else np.concatenate([p.iq for p in parts])
        return Frames(
            np.concatenate([p.ids for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.snr_db for p in parts]),
            iq,
        )


def validate_frames(frames: Frames, num_classes: int, length: int) -> Frames:
    """Check shapes, dtypes, label range and finiteness; return the frames in canonical dtypes.

    Raises:
        ValueError: on a wrong shape, a label outside ``[0, num_classes)``, NaN/inf in ``iq`` or
            SNR, or repeated ids.
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
    if not np.isfinite(snr_db).all():
        raise ValueError("snr holds NaN or inf")
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
    return Frames(ids, labels.astype(np.int16), snr_db, iq.astype(np.float32, copy=False))


def frames_to_table(frames: Frames) -> pa.Table:
    """Frames (canonical dtypes, see :func:`validate_frames`) to an Arrow table of the schema."""
    _n, _, length = frames.iq.shape
    flat = pa.array(np.ascontiguousarray(frames.iq, np.float32).reshape(-1))
    storage = pa.FixedSizeListArray.from_arrays(flat, 2 * length)
    iq = pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(pa.float32(), [2, length]), storage)
    columns = [pa.array(frames.ids), pa.array(frames.labels), pa.array(frames.snr_db), iq]
    return pa.Table.from_arrays(columns, schema=arrow_schema(length))


def frames_from_table(table: pa.Table) -> Frames:
    """Arrow table (all columns, or ``id, label, snr`` only) back to :class:`Frames`."""
    iq = None
    if "iq" in table.column_names:
        column = table.column("iq").combine_chunks()
        if isinstance(column, pa.ExtensionArray):
            column = column.storage
        shape = table.schema.field("iq").type.shape
        iq = column.flatten().to_numpy().reshape(len(table), *shape)
    return Frames(
        table.column("id").to_numpy(),
        table.column("label").to_numpy(),
        table.column("snr").to_numpy(),
        iq,
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
        snr_grid_db: the SNR labels the dataset uses, ascending.
        source: where the data came from (profile and parameters, or file and checksum).
        shards: every shard, in id order.
    """

    classes: list[str]
    length: int
    snr_grid_db: list[float]
    source: dict[str, Any]
    shards: list[ShardInfo] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

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
        body = json.loads(text)
        version = body.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"unsupported dataset format_version {version!r}")
        return cls(
            classes=list(body["classes"]),
            length=int(body["length"]),
            snr_grid_db=[float(s) for s in body["snr_grid_db"]],
            source=body["source"],
            shards=[ShardInfo(**s) for s in body["shards"]],
            format_version=version,
        )
