"""The run directory on any fsspec URI: config, split, rounds, manifest; what resume reads back."""

from __future__ import annotations

import io
import json
import logging
import posixpath
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from engine._internal.atomic import write_bytes, write_json
from engine._internal.resume import check_resumable, stored_config
from engine.data.schema import EXTRA_COLUMNS, DatasetMeta, Frames
from engine.data.splits import (
    Split,
)
from engine.data.store import read_frames, read_parquet, resolve
from engine.expansion.config import RESUMABLE_CHANGES, ExpandConfig
from engine.scoring import (
    SelectedRows,
)

log = logging.getLogger(f"duse.{__name__}")


MANIFEST_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("round", pa.int16()),
        ("rank", pa.int32()),
        ("score", pa.float64()),
        ("label", pa.int16()),
        ("snr", pa.float32()),
    ]
)

PROVENANCE = ("source", "source_id", "source_class")


MODEL_NAME = "model.pt"  # the final evaluation model, with its class names and L


@dataclass(frozen=True)
class RoundRecord:
    """One completed round, as written to ``rounds/round-NNNN.*``.

    Attributes:
        round: 1-based round number.
        rows: the selected rows, best first.
        metrics: JSON-ready facts about the round (k, sizes, timings, train accuracy).
    """

    round: int
    rows: SelectedRows
    metrics: dict[str, Any]


class RunDirectory:
    """Files of one run on any fsspec URI, each written atomically (temp name, then move)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.fs, self.path = resolve(uri)

    def join(self, name: str) -> str:
        return posixpath.join(self.path, name)

    def exists(self, name: str) -> bool:
        return self.fs.exists(self.join(name))

    def write(self, name: str, body: bytes) -> None:
        write_bytes(f"{self.uri}/{name}", body)

    def read(self, name: str) -> bytes:
        with self.fs.open(self.join(name), "rb") as handle:
            return handle.read()

    def write_json(self, name: str, body: Any) -> None:
        write_json(f"{self.uri}/{name}", body, indent=2)

    def read_json(self, name: str) -> Any:
        return json.loads(self.read(name))


def round_name(round_index: int, suffix: str) -> str:
    return f"rounds/round-{round_index:04d}.{suffix}"


def rows_table(round_index: int, rows: SelectedRows) -> pa.Table:
    k = len(rows.ids)
    columns = [
        pa.array(rows.ids, pa.int64()),
        pa.array(np.full(k, round_index), pa.int16()),
        pa.array(np.arange(k), pa.int32()),
        pa.array(rows.scores, pa.float64()),
        pa.array(rows.labels, pa.int16()),
        pa.array(rows.snr_db, pa.float32()),
    ]
    return pa.Table.from_arrays(columns, schema=MANIFEST_SCHEMA)


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_round(run: RunDirectory, record: RoundRecord) -> None:
    """Metrics first, the parquet last: the parquet's presence marks the round complete."""
    run.write_json(round_name(record.round, "json"), record.metrics)
    run.write(
        round_name(record.round, "parquet"), parquet_bytes(rows_table(record.round, record.rows))
    )


def read_rounds(run: RunDirectory, sizes: list[int]) -> list[RoundRecord]:
    """The completed rounds 1..r found in the run directory (stops at the first gap)."""
    records = []
    for round_index in range(1, len(sizes) + 1):
        names = [round_name(round_index, suffix) for suffix in ("json", "parquet")]
        if not all(run.exists(name) for name in names):
            break
        table = read_parquet(io.BytesIO(run.read(names[1])))
        rows = SelectedRows(
            table.column("id").to_numpy(),
            table.column("label").to_numpy().astype(np.int64),
            table.column("snr").to_numpy(),
            table.column("score").to_numpy(),
        )
        if len(rows.ids) != sizes[round_index - 1]:
            raise ValueError(
                f"{run.uri}: round {round_index} holds {len(rows.ids)} rows, the config asks "
                f"for {sizes[round_index - 1]}; use a new run directory"
            )
        records.append(RoundRecord(round_index, rows, run.read_json(names[0])))
    return records


def check_existing_run(run: RunDirectory, config: ExpandConfig) -> bool:
    """True when ``run`` holds a run of this config (to resume); nothing is written.

    Only :data:`engine.expansion.config.RESUMABLE_CHANGES` may differ
    (:func:`engine._internal.resume.check_resumable`).

    Raises:
        ValueError: the directory holds a run with a different config.
    """
    stored = stored_config(run.uri, ExpandConfig.from_dict)
    return check_resumable(run.uri, stored, config.to_dict(), RESUMABLE_CHANGES)


def claim_run_directory(run: RunDirectory, config: ExpandConfig, split: Split) -> None:
    """Write the resolved ``config.yaml`` and, once, ``splits.json``."""
    run.write("config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False).encode())
    if not run.exists("splits.json"):
        body = {
            "params": split.params,
            "test_ids": split.test_ids.tolist(),
            "target_ids": split.target_ids.tolist(),
            "pool_ids": split.pool_ids.tolist(),
        }
        run.write("splits.json", json.dumps(body).encode())


def check_out_is_not_a_dataset(config: ExpandConfig) -> None:
    """``out`` must not be, or lie inside, one of the run's datasets."""
    _, out = resolve(config.out)
    datasets = {"data": config.data, "target": config.target, "pool": config.pool}
    for name, uri in {**datasets, "test": config.test}.items():
        if uri is None:
            continue
        _, path = resolve(uri)
        if out == path or out.startswith(path.rstrip("/") + "/"):
            raise ValueError(f"out {config.out} is inside the {name} dataset {uri}; choose another")


def remove_run_staging(run_dir: RunDirectory) -> None:
    """Every staging file (``.NAME.partial-*``) in the run directory: the run lock is ours, so
    whoever left it is gone (unlike ``atomic.remove_stale_staging``, which checks the owner)."""
    if not run_dir.fs.exists(run_dir.path):
        return
    for path in run_dir.fs.find(run_dir.path, withdirs=True, maxdepth=2):
        if ".partial-" in posixpath.basename(path) and run_dir.fs.exists(path):
            log.info("removing stale staging %s", path)
            run_dir.fs.rm(path, recursive=True)


def write_manifest(
    run_dir: RunDirectory, records: list[RoundRecord], data: str, meta: DatasetMeta
) -> None:
    """The selection so far, with each row's provenance (``source, source_id, source_class``)."""
    tables = [rows_table(record.round, record.rows) for record in records]
    table = pa.concat_tables(tables) if tables else MANIFEST_SCHEMA.empty_table()
    ids = table.column("id").to_numpy()
    frames = read_frames(data, ids, with_iq=False, extra=True)
    provenance = provenance_of(frames, ids, meta)
    for name, values in provenance.items():
        table = table.append_column(name, pa.array(values, EXTRA_COLUMNS[name]))
    run_dir.write("manifest.parquet", parquet_bytes(table))


def provenance_of(frames: Frames, ids: np.ndarray, meta: DatasetMeta) -> dict[str, np.ndarray]:
    """``source, source_id, source_class`` of ``ids``, from frames read with ``extra=True``.

    A working set stores them; in a plain dataset a frame's source is ``data`` and its source
    id and class are its own.
    """
    ids = np.asarray(ids, np.int64)
    order = np.argsort(frames.ids, kind="stable")
    positions = order[np.searchsorted(frames.ids[order], ids)]
    if frames.extra and "source" in frames.extra:
        return {name: frames.extra[name][positions] for name in PROVENANCE}
    labels = frames.labels[positions].astype(np.int64)
    return {
        "source": np.full(len(ids), "data", object),
        "source_id": ids,
        "source_class": np.asarray(meta.classes, object)[labels],
    }


def alignment_summary(run_dir: RunDirectory) -> dict[str, Any] | None:
    """Own-data mode: pool frames kept and left out, and target classes the pool lacks."""
    if not run_dir.exists("alignment.json"):
        return None
    pool = run_dir.read_json("alignment.json")["pool"]
    return {
        "pool_kept": int(sum(pool["kept_per_class"].values())),
        "pool_left_out": {k: int(sum(v.values())) for k, v in pool["left_out_per_class"].items()},
        "missing_target_classes": pool["missing_target_classes"],
    }
