"""What reading a subset of a dataset costs, by the subset's size (issue 16, item 3).

Training sets, pools and test sets are read by id: ``read_frames(uri, ids)`` in-process and
``to_ray_dataset(uri, columns, ids=ids)`` on Ray Data (the scoring pass). On a dataset of
``--frames`` seeded random L=1024 frames in default shards (128 MiB, row groups of 16 MiB,
2,044 frames), this times subsets of 1, 5, 25 and 100 % of the frames in two layouts:

* ``contiguous``: one id range, as a class, an SNR block of a class (a generated dataset numbers
  frames class by class, SNR by SNR) or one source of an aligned dataset is;
* ``scattered``: ids drawn at random, as a random split's pool or test set is.

In-process, each subset is read three ways: ``full`` (every shard decoded, then filtered),
``shards`` (shards outside the ids' range skipped, the others decoded whole: what
``read_frames(ids)`` did before) and ``row groups`` (shards and row groups skipped by their id
statistics: what it does now). On Ray Data: ``full`` (every shard read, the consumer keeps the
wanted rows: what the scoring pass did before) and ``pruned`` (``ids=`` given: only the shards
and row groups that can hold them are read); last, a pass over a one-frame dataset, the fixed
cost of any pass on this machine. The table's ``read rows`` are the rows decoded (in-process)
or delivered by Ray Data (pruned). Every shard is hashed once before the timings (the
checksum cache then checks sizes only), and the shards were just written, so they are in the OS
page cache: the times are decode and transport cost, not disk speed.

    python -m benchmarks.subset_reads [--frames 20000] [--repeats 3] [--ray-repeats 2]

Prints a table and writes benchmarks/results/subset-reads.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.checksums import machine, write_dataset
from engine._internal import checksum_cache
from engine.data import store
from engine.data.store import read_frames, read_meta, to_ray_dataset

RESULTS = Path(__file__).parent / "results" / "subset-reads.json"
FRACTIONS = (0.01, 0.05, 0.25)
COLUMNS = ["id", "label", "snr", "iq"]


def subsets(frames: int, seed: int = 0) -> list[tuple[str, float, np.ndarray]]:
    """(layout, fraction, sorted ids) of every subset timed; 100 % once (both layouts agree)."""
    rng = np.random.default_rng(seed)
    cases = []
    for fraction in FRACTIONS:
        n = int(frames * fraction)
        start = int(frames * 0.4)  # inside the first shard, not at a row-group boundary
        cases.append(("contiguous", fraction, np.arange(start, start + n, dtype=np.int64)))
        cases.append(("scattered", fraction, np.sort(rng.choice(frames, n, replace=False))))
    cases.append(("all", 1.0, np.arange(frames, dtype=np.int64)))
    return cases


def _timed(call: Callable[..., Any], args: tuple, repeats: int) -> tuple[float, list, Any]:
    """Median and all of ``repeats`` timings of ``call(*args)`` (seconds), and what it gave."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def read_full(uri: str, ids: np.ndarray) -> int:
    """Every shard decoded, then the wanted rows kept."""
    frames = read_frames(uri)
    return int(np.isin(frames.ids, ids).sum())


def read_shards(uri: str, ids: np.ndarray) -> int:
    """The previous ``read_frames(ids)``: shards skipped by id range, the others whole."""
    pruning = store._row_groups
    store._row_groups = lambda metadata, _wanted: list(range(metadata.num_row_groups))
    try:
        return len(read_frames(uri, ids))
    finally:
        store._row_groups = pruning


def read_row_groups(uri: str, ids: np.ndarray) -> int:
    return len(read_frames(uri, ids))


def decoded_rows(uri: str, ids: np.ndarray) -> int:
    """Rows in the row groups ``read_frames(uri, ids)`` decodes."""
    import pyarrow.parquet as pq

    meta, total = read_meta(uri), 0
    for shard in meta.shards:
        inside = store._wanted_in(shard, ids)
        if len(inside):
            metadata = pq.read_metadata(os.path.join(uri, shard.name))
            groups = store._row_groups(metadata, inside)
            total += sum(metadata.row_group(g).num_rows for g in groups)
    return total


def ray_pass(uri: str, ids: np.ndarray, pruned: bool) -> tuple[int, int]:
    """(wanted rows, rows Ray Data delivered) of one pass that keeps the wanted rows."""
    dataset = to_ray_dataset(uri, COLUMNS, ids=ids if pruned else None)
    wanted = delivered = 0
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        delivered += len(batch["id"])
        wanted += int(np.isin(batch["id"], ids).sum())
    return wanted, delivered


def in_process(uri: str, cases: list, repeats: int) -> list[dict]:
    rows = []
    for layout, fraction, ids in cases:
        cell = {"layout": layout, "fraction": fraction, "rows": len(ids)}
        readers = {"full": read_full, "shards": read_shards, "row_groups": read_row_groups}
        for name, read in readers.items():
            cell[f"{name}_s"], cell[f"{name}_all_s"], got = _timed(read, (uri, ids), repeats)
            assert got == len(ids), (name, layout, fraction)
            cell[f"{name}_rows_per_s"] = len(ids) / cell[f"{name}_s"]
        cell["decoded_rows"] = decoded_rows(uri, ids)
        cell["full_vs_row_groups"] = cell["full_s"] / cell["row_groups_s"]
        cell["shards_vs_row_groups"] = cell["shards_s"] / cell["row_groups_s"]
        rows.append(cell)
        line = _line("in-process", cell, "row_groups_s", "shards_s", cell["decoded_rows"])
        print(line, flush=True)
    return rows


def start_ray() -> None:
    import ray.data

    from engine._internal.ray_runtime import ensure_ray

    ensure_ray()
    ray.data.DataContext.get_current().enable_progress_bars = False


def ray_floor(tmp: str, repeats: int) -> tuple[float, list]:
    """Seconds of a Ray Data pass over one frame: what every pass costs here whatever it reads."""
    uri = os.path.join(tmp, "one")
    write_dataset(uri, 1, 1)
    median, times, _rows = _timed(ray_pass, (uri, np.zeros(1, np.int64), False), repeats)
    return median, times


def on_ray(uri: str, cases: list, repeats: int) -> list[dict]:
    ray_pass(uri, cases[0][2], pruned=False)  # workers started, the first read paid
    rows = []
    for layout, fraction, ids in cases:
        cell = {"layout": layout, "fraction": fraction, "rows": len(ids)}
        for name, pruned in (("full", False), ("pruned", True)):
            cell[f"{name}_s"], cell[f"{name}_all_s"], (wanted, delivered) = _timed(
                ray_pass, (uri, ids, pruned), repeats
            )
            assert wanted == len(ids), (name, layout, fraction)
            cell[f"{name}_delivered_rows"] = delivered
            cell[f"{name}_rows_per_s"] = len(ids) / cell[f"{name}_s"]
        cell["full_vs_pruned"] = cell["full_s"] / cell["pruned_s"]
        rows.append(cell)
        print(_line("ray", cell, "pruned_s", None, cell["pruned_delivered_rows"]), flush=True)
    return rows


HEADER = (
    f"{'':10s} {'layout':10s} {'subset':>6s} {'rows':>6s} {'full s':>7s} {'shards s':>8s} "
    f"{'now s':>7s} {'now rows/s':>10s} {'full/now':>8s} {'read rows':>9s}"
)


def _line(where: str, cell: dict, now: str, shards: str | None, read_rows: int) -> str:
    """One row of the table: the full read, the previous subset read, the subset read now."""
    before = f"{cell[shards]:8.3f}" if shards else f"{'':8s}"
    return (
        f"{where:10s} {cell['layout']:10s} {cell['fraction']:6.0%} {cell['rows']:6d} "
        f"{cell['full_s']:7.3f} {before} {cell[now]:7.3f} "
        f"{cell[now.replace('_s', '_rows_per_s')]:10.0f} {cell['full_s'] / cell[now]:8.1f} "
        f"{read_rows:9d}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="in-process reads per cell")
    parser.add_argument("--ray-repeats", type=int, default=2, help="Ray Data passes per cell")
    parser.add_argument("--no-ray", action="store_true", help="in-process reads only")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--note", default="", help="recorded as is (e.g. what else was running)")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    saved = os.environ.get("DUSE_CHECKSUM_CACHE")
    with tempfile.TemporaryDirectory(prefix="duse-subsets-") as tmp:
        os.environ["DUSE_CHECKSUM_CACHE"] = os.path.join(tmp, "cache")
        checksum_cache.clear()
        uri = os.path.join(tmp, "ds")
        write_dataset(uri, args.frames, store.DEFAULT_SHARD_BYTES / 2**20)
        meta = read_meta(uri)
        read_frames(uri)  # every shard hashed once: the timings check sizes only
        cases = subsets(args.frames)
        print(HEADER, flush=True)
        local = in_process(uri, cases, args.repeats)
        ray_rows, floor = [], (None, [])
        if not args.no_ray:
            start_ray()
            ray_rows = on_ray(uri, cases, args.ray_repeats)
            floor = ray_floor(tmp, max(2, args.ray_repeats))
            print(f"ray pass over one frame: {floor[0]:.3f} s", flush=True)
    if saved is None:
        os.environ.pop("DUSE_CHECKSUM_CACHE", None)
    else:
        os.environ["DUSE_CHECKSUM_CACHE"] = saved
    load_end = os.getloadavg()
    result = {
        "command": "python -m benchmarks.subset_reads "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "load_average_at_start": list(load_start),
        "load_average_at_end": list(load_end),
        "quiet": load_start[0] < 0.5 * (os.cpu_count() or 1),
        "dataset": {
            "frames": args.frames,
            "length": meta.length,
            "shards": len(meta.shards),
            "row_group_rows": max(1, store._ROW_GROUP_BYTES // (8 * meta.length + 14)),
            "mb": sum(s.size_bytes for s in meta.shards) / 1e6,
        },
        "in_process": local,
        "ray": ray_rows,
        "ray_pass_over_one_frame_s": floor[0],
        "ray_pass_over_one_frame_all_s": floor[1],
        "page_cache": "warm (shards just written); times are decode and transport, not disk",
        "note": args.note,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
