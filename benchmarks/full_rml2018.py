"""RML2018 at full size on one box: generate 2,555,904 x 1024 frames, score them with DUSE.

End to end, as a user would run it (issue 16 item 4):

1. ``generate("rml2018a", scale)``: one Ray task per shard, about 21 GB at scale 1 (the free
   disk is checked before anything is written);
2. a cnn1d trained in-process on a small class-balanced target (``--target`` of the frames);
3. ``score_and_select`` over every other frame with DUSE's margin scorer on Ray Data
   (``ScoringConfig``; ``--inference`` picks the forward), selecting 4 %.

The pool never sits in memory: Ray Data streams it shard by shard and the selection keeps only
rows that can still make the cut. The driver's and each Ray worker's memory are sampled from
/proc during steps 1 and 3 (``benchmarks.scoring.PeakMemory``). The projected time on N nodes
assumes each node scores (and generates) at this box's measured rate and the storage keeps up:
``fixed + frames / (N x rate)``, ``fixed`` the measured start-up of a pass.

    python -m benchmarks.full_rml2018 [--scale 1.0] [--workdir DIR] [--keep]
        [--inference frozen] [--results PATH]

Writes benchmarks/results/full-rml2018.json (machine, load, command and every figure).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.hardware import cpu_peak
from benchmarks.scoring import PeakMemory, machine
from engine.data import generate, make_split, read_index
from engine.data.generate import estimated_bytes
from engine.data.profiles import get_profile
from engine.inference import INFERENCE_MODES
from engine.scoring import ScoringConfig, score_and_select
from engine.training import TrainConfig, fit
from scorers import get_scorer

RESULTS = Path(__file__).parent / "results" / "full-rml2018.json"
PROFILE = "rml2018a"
RATE = 0.04
NODES = (1, 2, 4, 8, 16)


def run(scale: float, workdir: str, inference: str, target: float, epochs: int) -> dict:
    """The three steps at ``scale``; the dataset is written under ``workdir``."""
    uri = f"{workdir}/rml2018a"
    report: dict = {"scale": scale, "estimated_bytes": estimated_bytes(PROFILE, scale)}
    start = time.perf_counter()
    with PeakMemory() as memory:
        meta = generate(PROFILE, uri, scale=scale, seed=0, progress=True)
    seconds = time.perf_counter() - start
    report["generate"] = {
        "frames": meta.num_rows,
        "shards": len(meta.shards),
        "bytes": sum(shard.size_bytes for shard in meta.shards),
        "seconds": seconds,
        "frames_per_s": meta.num_rows / seconds,
        **memory.figures(),
    }
    print(f"generated {meta.num_rows:,} frames ({len(meta.shards)} shards) in {seconds:.0f} s")
    index = read_index(uri)  # id, label, snr: 14 bytes a frame, no IQ
    split = make_split(index, len(meta.classes), test=target, target=target, seed=0)
    start = time.perf_counter()
    model = fit("cnn1d", uri, split.target_ids, TrainConfig(epochs=epochs, batch_size=128))
    report["train"] = {
        "target_frames": len(split.target_ids),
        "test_frames": len(split.test_ids),  # held out, as a user's split would
        "epochs": epochs,
        "seconds": time.perf_counter() - start,
    }
    pool = split.pool_ids
    k = int(RATE * len(pool))
    config = ScoringConfig(executor="ray", batch_size=1024, inference=inference)
    start = time.perf_counter()
    with PeakMemory() as memory:
        picked = score_and_select(
            model,
            uri,
            pool,
            get_scorer("duse"),
            k,
            balanced=False,
            num_classes=len(meta.classes),
            rng=np.random.default_rng(0),
            config=config,
        )
    seconds = time.perf_counter() - start
    report["score"] = {
        "pool_frames": len(pool),
        "selected": len(picked.ids),
        "inference": inference,
        "seconds": seconds,
        "frames_per_s": len(pool) / seconds,
        **memory.figures(),
    }
    print(f"scored {len(pool):,} frames in {seconds:.0f} s ({len(pool) / seconds:,.0f}/s)")
    return report


def projection(report: dict, fixed_s: float) -> list[dict]:
    """Projected wall time of the generate and score steps at full size on N nodes."""
    full = get_profile(PROFILE).num_rows  # 2,555,904
    generate_rate = report["generate"]["frames_per_s"]
    score = report["score"]  # the measured pass less its start-up, which N nodes pay once
    score_rate = score["pool_frames"] / max(score["seconds"] - fixed_s, 1e-9)
    return [
        {
            "nodes": n,
            "generate_s": full / (n * generate_rate),
            "score_s": fixed_s + full / (n * score_rate),
        }
        for n in NODES
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 2,555,904 frames")
    parser.add_argument("--workdir", default=None, help="where the dataset goes (temp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated dataset")
    parser.add_argument("--inference", default="frozen", choices=INFERENCE_MODES)
    parser.add_argument("--target", type=float, default=0.001, help="target share of frames")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fixed-s", type=float, default=10.7, help="a pass's start-up (s)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1 or not 0 < args.target < 1:
        parser.error(
            f"--scale must be in (0, 1] and --target in (0, 1), got {args.scale}, {args.target}"
        )
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    torch.set_num_threads(os.cpu_count() or 1)
    workdir = tempfile.mkdtemp(prefix="duse-full-rml2018-", dir=args.workdir)
    report = {
        "command": "python -m benchmarks.full_rml2018 "
        + " ".join(sys.argv[1:] if argv is None else argv),
        **machine(),
        "cpu": cpu_peak(),
        "load_average_at_start": os.getloadavg(),
    }
    try:
        report.update(run(args.scale, workdir, args.inference, args.target, args.epochs))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report["fixed_cost_per_pass_s"] = args.fixed_s
    report["projection"] = projection(report, args.fixed_s)
    report["load_average_at_end"] = os.getloadavg()
    for row in report["projection"]:
        print(
            f"{row['nodes']:>3} nodes: generate {row['generate_s'] / 60:6.1f} min, "
            f"score {row['score_s'] / 60:6.1f} min"
        )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
