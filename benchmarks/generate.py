"""Synthetic generation speed and memory.

Prints, per profile:
* frames/s on one core (one in-process shard task: synthesis + Parquet encoding + write);
* peak RSS of one shard task, run in a fresh process, for two dataset sizes (a task only
  touches its shard, so the peak should not grow with the dataset);
* end-to-end ``generate`` throughput on the local Ray (all cores).

Target (issue 2): >= 10,000 frames/s per core at L=1024.

    python -m benchmarks.generate [--frames 8192] [--profiles rml2016a rml2018a]

Results are also written to benchmarks/results/generate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "generate.json"

_TASK = """
import resource, sys, time
from engine.data.generate import _generate_shard, frames_per_key
from engine.data.profiles import get_profile
name, scale, rows, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
per_key = frames_per_key(get_profile(name), scale)
start = time.perf_counter()
info = _generate_shard(name, per_key, 0, 0, rows, out, 0)
seconds = time.perf_counter() - start
print(info.num_rows, info.size_bytes, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _shard_task(profile: str, scale: float, rows: int) -> dict:
    """Run one shard task in a fresh single-threaded process; its speed and peak RSS."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            [sys.executable, "-c", _TASK, profile, str(scale), str(rows), out],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
    num_rows, size, seconds, maxrss_kib = result.stdout.split()
    return {
        "rows": int(num_rows),
        "shard_mib": int(size) / 2**20,
        "seconds": float(seconds),
        "frames_per_s": int(num_rows) / float(seconds),
        "peak_rss_mib": int(maxrss_kib) / 1024,
    }


def _end_to_end(profile: str, scale: float) -> dict:
    from engine.data.generate import generate

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        meta = generate(profile, f"{out}/ds", scale=scale, seed=0, executor="ray")
        seconds = time.perf_counter() - start
    return {
        "scale": scale,
        "rows": meta.num_rows,
        "shards": len(meta.shards),
        "seconds": seconds,
        "frames_per_s": meta.num_rows / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8192, help="frames per shard task")
    parser.add_argument("--profiles", nargs="+", default=["rml2016a", "rml2018a"])
    parser.add_argument("--e2e-scale", type=float, default=0.02, help="scale of the Ray run")
    args = parser.parse_args()
    from engine.data.profiles import get_profile

    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "frames_per_task": args.frames,
        "profiles": {},
    }
    for name in args.profiles:
        length = get_profile(name).length
        small = _shard_task(name, 0.01, args.frames)
        large = _shard_task(name, 1.0, args.frames)
        e2e = _end_to_end(name, args.e2e_scale)
        report["profiles"][name] = {
            "length": length,
            "task_scale_0.01": small,
            "task_scale_1": large,
            "ray_end_to_end": e2e,
        }
        print(
            f"{name:9s} L={length:5d}  one core: {large['frames_per_s']:9,.0f} frames/s "
            f"({large['rows']} frames, {large['shard_mib']:.1f} MiB shard)  "
            f"peak RSS/task: {small['peak_rss_mib']:.0f} MiB (scale 0.01) vs "
            f"{large['peak_rss_mib']:.0f} MiB (scale 1)  "
            f"Ray e2e: {e2e['frames_per_s']:,.0f} frames/s ({e2e['rows']} frames, "
            f"{e2e['shards']} shards)"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}; baseline RSS of the task process (imports) is included")


if __name__ == "__main__":
    main()
