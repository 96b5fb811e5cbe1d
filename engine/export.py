"""Take an expansion's result away: the expanded training set as a dataset other tools read.

The expanded set is the run's final target: the initial target (``round`` 0) plus every frame
selected (``round`` 1..T), in the target's label space. Formats:

* ``parquet``: a canonical dataset directory (``duse train --data DIR`` trains on it; plain
  pyarrow reads its shards), with the provenance columns ``source``, ``source_id``,
  ``source_class`` and ``round`` after ``id, label, snr, iq``;
* ``npz``: one ``.npz`` file, ``X`` float32 ``[N, 2, L]``, ``y`` int64, ``snr`` float32,
  ``classes`` and the provenance columns as arrays (no pickle needed; ``duse data convert
  --from npz`` reads it back);
* ``hdf5``: one ``.h5`` file with the same datasets and ``classes``, ``length`` and
  ``sample_rate_hz`` (when known) as file attributes.

Files go through the atomic writer (``engine._internal.atomic``), so a failed export leaves
nothing behind.
"""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from typing import Any

import numpy as np
import yaml

from engine._internal.atomic import write_bytes
from engine.data.schema import DatasetMeta, Frames
from engine.data.splits import Split
from engine.data.store import DatasetWriter, read_frames, read_meta, read_parquet, resolve

__all__ = ["FORMATS", "export_run"]

log = logging.getLogger(f"duse.{__name__}")

FORMATS = ("parquet", "npz", "hdf5")


def _run_data(run: str) -> str:
    """The dataset a run trained on: its own-data working set, else its config's ``data``."""
    fs, path = resolve(run)
    if not fs.exists(f"{path}/config.yaml"):
        raise FileNotFoundError(f"{run} is not an expansion run directory (no config.yaml)")
    if not fs.exists(f"{path}/manifest.parquet"):
        raise ValueError(f"{run} has no manifest.parquet yet: run `duse expand` to finish it")
    if fs.exists(f"{path}/data/dataset.json"):
        return f"{run.rstrip('/')}/data"
    with fs.open(f"{path}/config.yaml") as handle:
        return yaml.safe_load(handle)["data"]


def _expanded_frames(run: str) -> tuple[Frames, DatasetMeta]:
    """Target then selected frames, with ``source, source_id, source_class, round``."""
    from engine.expansion import provenance_of

    data = _run_data(run)
    meta = read_meta(data)
    fs, path = resolve(run)
    with fs.open(f"{path}/manifest.parquet", "rb") as handle:
        manifest = read_parquet(handle, ["id", "round"])
    split = Split.load(f"{run.rstrip('/')}/splits.json")
    selected = manifest.column("id").to_numpy().astype(np.int64)
    ids = np.concatenate([split.target_ids, selected])
    rounds = np.concatenate(
        [np.zeros(len(split.target_ids), np.int16), manifest.column("round").to_numpy()]
    ).astype(np.int16)
    frames = read_frames(data, ids, extra=True)  # one read: IQ and provenance
    provenance = provenance_of(frames, ids, meta)
    order = np.argsort(frames.ids, kind="stable")
    frames = frames.take(order[np.searchsorted(frames.ids[order], ids)])  # the order of ids
    is_target = rounds == 0
    provenance["source"] = np.where(is_target, "target", "pool").astype(object)
    return replace(frames, extra={**provenance, "round": rounds}), meta


def _write_parquet(frames: Frames, meta: DatasetMeta, out: str, source: dict[str, Any]) -> None:
    renumbered = replace(frames, ids=np.arange(len(frames), dtype=np.int64))
    options = {"sample_rate_hz": meta.sample_rate_hz, "snr_unknown_ok": True}
    with DatasetWriter(out, meta.classes, meta.length, meta.snr_grid_db, source, **options) as w:
        w.write(renumbered)


def _arrays(frames: Frames, meta: DatasetMeta) -> dict[str, np.ndarray]:
    extra = frames.extra
    return {
        "X": frames.iq,
        "y": frames.labels.astype(np.int64),
        "snr": frames.snr_db,
        "classes": np.asarray(meta.classes, str),
        "source": extra["source"].astype(str),
        "source_id": extra["source_id"].astype(np.int64),
        "source_class": extra["source_class"].astype(str),
        "round": extra["round"],
    }


def _write_npz(frames: Frames, meta: DatasetMeta, out: str) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **_arrays(frames, meta))
    write_bytes(out, buffer.getbuffer())


def _write_hdf5(frames: Frames, meta: DatasetMeta, out: str) -> None:
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        for name, values in _arrays(frames, meta).items():
            if values.dtype.kind == "U":
                values = values.astype(h5py.string_dtype())
            h5.create_dataset(name, data=values)
        h5.attrs["classes"] = list(meta.classes)
        h5.attrs["length"] = meta.length
        if meta.sample_rate_hz is not None:
            h5.attrs["sample_rate_hz"] = meta.sample_rate_hz
    write_bytes(out, buffer.getbuffer())


def export_run(run: str, out: str, *, format: str = "parquet") -> dict[str, Any]:
    """Write a run's expanded training set (target + selected) to ``out``.

    Args:
        run: an expansion run directory (``duse expand --out``).
        out: a dataset directory (``parquet``) or a file (``npz``, ``hdf5``); must not exist.
        format: one of :data:`FORMATS`.

    Returns:
        JSON-ready summary: ``out``, ``format``, ``frames``, ``target``, ``selected``,
        ``classes``, ``length``.

    Raises:
        ValueError: an unknown format or an unfinished run. FileNotFoundError: not a run.
        FileExistsError: ``out`` exists.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {list(FORMATS)}")
    fs, path = resolve(out)
    if fs.exists(path):
        raise FileExistsError(f"{out} already exists; choose another --out")
    frames, meta = _expanded_frames(run)
    source = {"kind": "export", "run": run, "format_note": "target (round 0) + selected"}
    if format == "parquet":
        _write_parquet(frames, meta, out, source)
    elif format == "npz":
        _write_npz(frames, meta, out)
    else:
        _write_hdf5(frames, meta, out)
    selected = int((frames.extra["round"] > 0).sum())
    log.info("exported %d frames (%d selected) to %s", len(frames), selected, out)
    return {
        "out": out,
        "format": format,
        "frames": len(frames),
        "target": len(frames) - selected,
        "selected": selected,
        "classes": meta.classes,
        "length": meta.length,
    }
