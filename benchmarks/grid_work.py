"""Less work per grid: one benchmark grid with the shared work off, then on, side by side.

The grid: one-shot methods (``margin``, ``entropy``, ``random`` and ``duse_no_al``, which is
``margin``'s score function under another name) x 3 rates x 2 seeds on a small synthetic
RML2016.10a look-alike, the 1-D CNN, executor ``local``, a few epochs. Off: ``share_scores``
and ``share_cells`` False, every cell scores its pool. On (the default config): one first-round
pass per (seed, score function), every rate selecting from it, and the ``duse_no_al`` cells
copied from ``margin``'s. Both runs share the generated data and one local Ray started before
the clock; each has its own ``out`` (round models are trained in each); the shared run goes
first, so a warm machine favours the other. The script checks that both give the same
selections and accuracies, cell by cell. Small rates and a large pool make the scoring a visible
share of a cell, as in the paper's grids (a pool of 10^5 frames, targets of a few thousand).

    python -m benchmarks.grid_work [--scale 0.06] [--epochs 2] [--eval-epochs 4]

Prints wall time, trials and pool scoring passes of each run and writes
benchmarks/results/grid-work.json (with the machine, the load average before and after, the
command).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

RESULTS = Path(__file__).parent / "results" / "grid-work.json"
METHODS = [
    "margin",
    "entropy",
    "random",
    {"name": "duse_no_al", "scorer": "duse", "params": {"order": "smallest_first"}},
]


def grid(data: str, out: str, args: argparse.Namespace, shared: bool) -> dict[str, Any]:
    """The benchmark config's values (``shared``: the default sharing; else all off)."""
    return {
        "data": data,
        "out": out,
        "methods": METHODS,
        "rates": args.rates,
        "seeds": args.seeds,
        "model": "cnn1d",
        "eval_models": ["cnn1d"],
        "split": {"test": 0.2, "target": 0.05},
        "train": {"epochs": args.epochs, "batch_size": 64},
        "eval_train": {"epochs": args.eval_epochs, "batch_size": 64},
        "scoring": {"executor": "local", "batch_size": 512},
        "figures": False,
        "share_scores": shared,
        "share_cells": shared,
        "tune": {"max_concurrent_trials": args.trials_at_once, "cpus_per_trial": 1},
    }


def pool_passes(out: Path) -> int:
    """First rounds that scored the pool (one-shot methods: every round); copied cells and
    rounds read from the score cache score nothing."""
    return sum(
        not round_["scores_cached"]
        for path in out.glob("cells/*/*/*/expansion/metrics.json")
        for round_ in json.loads(path.read_text())["rounds"]
    )


def run(data: str, out: Path, args: argparse.Namespace, shared: bool) -> dict[str, Any]:
    from engine.benchmark import BenchmarkConfig, run_benchmark

    config = BenchmarkConfig.from_dict(grid(data, str(out), args, shared))
    start = time.perf_counter()
    result = run_benchmark(config)
    wall = time.perf_counter() - start
    if result.failed:
        raise RuntimeError(f"failed cells: {result.failed}")
    copies = [r for r in result.runs if r.get("same_as")]
    return {
        "share_scores": shared,
        "share_cells": shared,
        "wall_s": round(wall, 1),
        "cells": len(result.runs),
        "pool_size": sorted({r["pool_size"] for r in result.runs}),
        "trials": len(result.runs) - len(copies),
        "copied_cells": len(copies),
        "pool_scoring_passes": pool_passes(out),
        "score_cache_entries": len(list(out.glob("score_cache/*.npz"))),
        "selection_s_total": round(
            sum(r["selection_s"] for r in result.runs if not r.get("same_as")), 1
        ),
        "runs": result.runs,
    }


def same_results(off: list[dict[str, Any]], on: list[dict[str, Any]]) -> bool:
    """Every cell selects the same ids and reaches the same accuracy in both runs."""

    def facts(record: dict[str, Any]) -> tuple:
        ids = pq.read_table(record["manifest"], columns=["id"]).column("id").to_pylist()
        return ids, record["evaluations"]["cnn1d"]["accuracy"], record["selected_per_class"]

    key = lambda record: (record["method"], record["rate"], record["seed"])  # noqa: E731
    paired = {key(r): r for r in off}
    return len(off) == len(on) and all(facts(r) == facts(paired[key(r)]) for r in on)


def machine() -> str:
    import torch

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    versions = f"python {platform.python_version()}, torch {torch.__version__}"
    return f"{model}, {os.cpu_count()} cores, {versions}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.06, help="rml2016a profile scale")
    parser.add_argument("--epochs", type=int, default=2, help="round (scorer) model epochs")
    parser.add_argument("--eval-epochs", type=int, default=4, help="evaluation model epochs")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.01, 0.02, 0.04])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--trials-at-once", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--note", default="", help="recorded as is (e.g. what else was running)")
    args = parser.parse_args(argv)
    from engine._internal.ray_runtime import ensure_ray
    from engine.data import generate

    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="duse-grid-work-") as tmp:
        data = os.path.join(tmp, "data")
        generate("rml2016a", data, scale=args.scale, seed=0, executor="local")
        ensure_ray()  # started before either clock
        # on first: whatever the second run gains from a warm machine (Ray's idle workers, the
        # page cache) goes to the run without sharing
        on = run(data, Path(tmp) / "on", args, shared=True)
        off = run(data, Path(tmp) / "off", args, shared=False)
        identical = same_results(off.pop("runs"), on.pop("runs"))
    report = {
        "command": shlex.join(
            ["python", "-m", "benchmarks.grid_work", *(sys.argv[1:] if argv is None else argv)]
        ),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "note": args.note,
        "grid": {
            "methods": [m if isinstance(m, str) else m["name"] for m in METHODS],
            "rates": args.rates,
            "seeds": args.seeds,
            "profile": "rml2016a",
            "scale": args.scale,
            "epochs": args.epochs,
            "eval_epochs": args.eval_epochs,
            "trials_at_once": args.trials_at_once,
        },
        "off": off,
        "on": on,
        "speedup": round(off["wall_s"] / on["wall_s"], 2),
        "same_selections_and_accuracies": identical,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    for name in ("off", "on"):
        row = report[name]
        print(
            f"{name:>3}: {row['wall_s']:7.1f} s wall, {row['trials']} trials for {row['cells']} "
            f"cells, {row['pool_scoring_passes']} pool scoring passes, selection "
            f"{row['selection_s_total']:.1f} s in all"
        )
    print(f"speedup {report['speedup']}x; same selections and accuracies: {identical}")
    print(f"load average before {load_before}, after {report['load_average_after']}")
    print(f"wrote {args.out}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
