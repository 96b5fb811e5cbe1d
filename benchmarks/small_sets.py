"""Small training sets: which training recipe makes a few hundred frames learn (issue 15 item 3).

The benchmark's cells train on the target set plus a few % of the pool: 200-1,000 frames at
the shipped scales. On one split of ``rml2016a`` (the benchmark config's split: SNR >= 0 dB,
20 % test, 1 % target), ``cnn1d`` is trained on the target set followed by random pool frames,
the first n of them (n = ``--sizes``), with each recipe, and tested on the split's test set:

* ``plain``: the old defaults, 10 epochs at batch 256, constant lr, no step floor;
* ``min_steps``: today's default, the same with at least 200 optimiser steps
  (``TrainConfig.min_steps``: smaller batches for small sets);
* ``recipe``: 200 steps, a cosine schedule, 30 epochs, 10 % held out for early stopping
  (patience 5, best epoch kept).

    python -m benchmarks.small_sets [--scale 0.05] [--sizes 220 500 1000 4400] [--seeds 0 1]

Writes benchmarks/results/small-sets.json (machine, load, command, every fit's numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engine.data.generate import GENERATOR_VERSION, generate
from engine.data.splits import make_split
from engine.data.store import read_index, read_meta
from engine.training import TrainConfig, evaluate, fit

RESULTS = Path(__file__).parent / "results" / "small-sets.json"
RECIPES = {
    "plain": TrainConfig(epochs=10, batch_size=256, min_steps=0),
    "min_steps": TrainConfig(epochs=10, batch_size=256, min_steps=200),
    "recipe": TrainConfig(
        epochs=30,
        batch_size=256,
        min_steps=200,
        lr_schedule="cosine",
        val_fraction=0.1,
        patience=5,
    ),
}


def run(scale: float, sizes: list[int], seeds: list[int], model: str, out: str) -> list[dict]:
    """Every (size, seed, recipe) fit on one generated dataset and split."""
    uri = f"{out}/rml2016a"
    generate("rml2016a", uri, scale=scale, seed=0, executor="local")
    split = make_split(
        read_index(uri), read_meta(uri).num_classes, test=0.2, target=0.01, snr_min_db=0, seed=0
    )
    rng = np.random.default_rng(0)  # the target set first, then pool frames in random order
    train_pool = np.concatenate(
        [rng.permutation(split.target_ids), rng.permutation(split.pool_ids)]
    )
    records = []
    for size in sizes:
        ids = train_pool[:size]
        for seed in seeds:
            for name, recipe in RECIPES.items():
                config = TrainConfig(**{**recipe.to_dict(), "seed": seed})
                start = time.perf_counter()
                result = fit(model, uri, ids, config)
                seconds = time.perf_counter() - start
                test = evaluate(result, uri, split.test_ids)["accuracy"]
                record = {
                    "size": len(ids),
                    "seed": seed,
                    "recipe": name,
                    "test_accuracy": test,
                    "train_accuracy": result.quality["train_accuracy"],
                    "near_chance": result.quality["warning"] is not None,
                    "epochs_run": len(result.history),
                    "steps": result.quality["steps"],
                    "seconds": round(seconds, 1),
                }
                records.append(record)
                print(
                    f"n={record['size']:5d} seed {seed} {name:9s} test {test:.3f} "
                    f"train {record['train_accuracy']:.3f} epochs {record['epochs_run']:3d} "
                    f"steps {record['steps']:5d} {seconds:6.1f} s",
                    flush=True,
                )
    return records


def summary(records: list[dict]) -> dict[str, dict[str, float]]:
    """Mean test accuracy per size and recipe."""
    table: dict[str, dict[str, float]] = {}
    for record in records:
        row = table.setdefault(str(record["size"]), {})
        row.setdefault(record["recipe"], []).append(record["test_accuracy"])
    return {size: {k: float(np.mean(v)) for k, v in row.items()} for size, row in table.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--sizes", type=int, nargs="+", default=[220, 500, 1000, 4400])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--model", default="cnn1d")
    args = parser.parse_args(argv)
    load_before = list(os.getloadavg())
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        records = run(args.scale, args.sizes, args.seeds, args.model, out)
    table = summary(records)
    print("\nmean test accuracy: size | " + " | ".join(RECIPES))
    for size, row in table.items():
        print(f"{size:>6s} | " + " | ".join(f"{row[name]:.3f}" for name in RECIPES))
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "load": {"before": load_before, "after": list(os.getloadavg())},
        "command": "python -m benchmarks.small_sets "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "generator_version": GENERATOR_VERSION,
        "settings": vars(args),
        "recipes": {name: recipe.to_dict() for name, recipe in RECIPES.items()},
        "mean_test_accuracy": table,
        "runs": records,
        "seconds": round(time.perf_counter() - start, 1),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
