"""What checking shards against ``dataset.json`` costs the readers (issue 14, item 4).

Every store reader checks each shard's size on every read and its SHA-256 once per version of
the file (``engine/_internal/checksum_cache.py``). On a generated dataset of seeded random
frames (L=1024, ``--mb`` MB in ``--shard-mib`` MiB shards) this measures:

1. ``hashlib.sha256`` throughput on an in-memory buffer (the floor of any check);
2. ``read_index`` (``id, label, snr`` only) and ``read_frames`` (everything): the first read
   (hashes every shard), the cached read in the same process (size check only), the read in a
   fresh process whose on-disk cache already knows the shards (the in-process cache
   cleared), and the same reader with the check switched off (the baseline: what it cost
   before).

The shards were just written, so they are in the OS page cache: the times are CPU cost, not
disk speed (a cold read adds the disk's time once, whatever the check does).

    python -m benchmarks.checksums [--mb 400] [--shard-mib 32] [--repeats 3]

Prints every figure and writes benchmarks/results/checksums.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine._internal import checksum_cache
from engine.data import store
from engine.data.schema import Frames
from engine.data.store import DatasetWriter, read_frames, read_index, read_meta

RESULTS = Path(__file__).parent / "results" / "checksums.json"
LENGTH = 1024
WRITE_CHUNK = 4096


def write_dataset(uri: str, frames: int, shard_mib: float) -> None:
    """``frames`` seeded random frames ``[2, LENGTH]`` (all values distinct: nothing in the
    shards compresses, so the bytes hashed are the bytes of the frames)."""
    rng = np.random.default_rng(0)
    with DatasetWriter(
        uri,
        ["a", "b"],
        LENGTH,
        [0.0],
        {"benchmark": "checksums"},
        shard_bytes=int(shard_mib * 2**20),
    ) as writer:
        for start in range(0, frames, WRITE_CHUNK):
            n = min(WRITE_CHUNK, frames - start)
            ids = np.arange(start, start + n, dtype=np.int64)
            iq = rng.standard_normal((n, 2, LENGTH), np.float32)
            writer.write(Frames(ids, (ids % 2).astype(np.int16), np.zeros(n, np.float32), iq))


def sha256_mb_per_s(repeats: int) -> list[float]:
    payload = np.random.default_rng(1).bytes(256 * 2**20)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        hashlib.sha256(payload).hexdigest()
        rates.append(len(payload) / 1e6 / (time.perf_counter() - start))
    return rates


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def unchecked(call) -> None:
    """``call`` with the shard check switched off: the same reader, what it cost before."""
    checked = store._checked_shard
    store._checked_shard = lambda *_args, **_kwargs: None
    try:
        call()
    finally:
        store._checked_shard = checked


def reads(uri: str, name: str, call, repeats: int) -> dict:
    """First (hashing), cached, disk-cached and unchecked read times of one reader, seconds."""
    first, cached, disk, unchecked_s = [], [], [], []
    for _ in range(repeats):
        os.environ["DUSE_CHECKSUM_CACHE"] = "off"
        checksum_cache.clear()
        first.append(_timed(call))
        cached.append(_timed(call))
        os.environ["DUSE_CHECKSUM_CACHE"] = str(Path(uri).parent / "cache")
        checksum_cache.clear()
        call()  # fills the disk cache
        checksum_cache.clear()  # a fresh process: only the disk cache is left
        disk.append(_timed(call))
        unchecked_s.append(_timed(lambda: unchecked(call)))
    med = statistics.median
    return {
        "reader": name,
        "first_read_s": med(first),
        "cached_read_s": med(cached),
        "disk_cached_read_s": med(disk),
        "read_without_checks_s": med(unchecked_s),
        "first_vs_unchecked": med(first) / med(unchecked_s),
        "cached_vs_unchecked": med(cached) / med(unchecked_s),
        "all_repeats": {
            "first": first,
            "cached": cached,
            "disk_cached": disk,
            "unchecked": unchecked_s,
        },
    }


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = f"python {platform.python_version()}, pyarrow {pa.__version__}"
    return f"{platform.machine()}, {os.cpu_count()} cores, {model}, {versions}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=400, help="dataset size in MB")
    parser.add_argument("--shard-mib", type=float, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--note", default="", help="recorded as is (e.g. what else was running)")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    frames = int(args.mb * 1e6 / (8 * LENGTH + 14))
    saved = os.environ.get("DUSE_CHECKSUM_CACHE")
    with tempfile.TemporaryDirectory(prefix="duse-checksums-") as tmp:
        uri = os.path.join(tmp, "ds")
        write_dataset(uri, frames, args.shard_mib)
        meta = read_meta(uri)
        size = sum(s.size_bytes for s in meta.shards)
        rates = sha256_mb_per_s(args.repeats)
        index = reads(uri, "read_index", lambda: read_index(uri), args.repeats)
        whole = reads(uri, "read_frames", lambda: read_frames(uri), args.repeats)
    if saved is None:
        os.environ.pop("DUSE_CHECKSUM_CACHE", None)
    else:
        os.environ["DUSE_CHECKSUM_CACHE"] = saved
    load_end = os.getloadavg()
    result = {
        "command": "python -m benchmarks.checksums "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "load_average_at_start": list(load_start),
        "load_average_at_end": list(load_end),
        # the load before the run (the run itself adds about one busy core)
        "quiet": load_start[0] < 0.5 * (os.cpu_count() or 1),
        "dataset": {
            "frames": frames,
            "length": LENGTH,
            "shards": len(meta.shards),
            "mb": size / 1e6,
        },
        "sha256_mb_per_s": statistics.median(rates),
        "sha256_all_repeats": rates,
        "readers": [index, whole],
        "page_cache": "warm (shards just written); times are CPU cost, not disk speed",
        "note": args.note,
    }
    for reader in (index, whole):  # what the first read spent on top of a cached one
        reader["first_read_extra_s"] = reader["first_read_s"] - reader["cached_read_s"]
        reader["first_read_check_mb_per_s"] = size / 1e6 / max(1e-9, reader["first_read_extra_s"])
    print(json.dumps(result, indent=1))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
