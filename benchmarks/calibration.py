"""Calibration: VT-CNN2 (``cnn2d``) on synthetic ``rml2016a`` behaves like on the real data.

Generates ``rml2016a`` at ``--scale``, trains ``cnn2d`` on a stratified half of it (every
SNR), and prints accuracy per SNR, the mean at SNR >= 0 dB (published VT-CNN2 on the real
RML2016.10a: about 70-73 %) and the largest confusions (expected: QAM16/QAM64, AM-DSB/WBFM).

    python -m benchmarks.calibration [--scale 0.1] [--epochs 20] [--workers 0]

Results are also written to benchmarks/results/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engine.data.generate import generate
from engine.data.splits import make_split
from engine.data.store import read_index
from engine.training import TrainConfig, confused_pairs, evaluate, fit

RESULTS = Path(__file__).parent / "results" / "calibration.json"


def calibrate(scale: float, config: TrainConfig, out: str, seed: int = 0) -> dict:
    """Generate, split (half test, half train), train ``cnn2d`` and evaluate.

    Confusions are taken over the test frames at SNR >= 0 dB, where they mean something (below,
    every class is confused with every other).
    """
    uri = f"{out}/rml2016a"
    generate("rml2016a", uri, scale=scale, seed=seed, executor="local")
    index = read_index(uri)
    split = make_split(index, 11, test=0.5, target=0.5, seed=seed)
    train_ids = np.concatenate([split.target_ids, split.pool_ids])
    start = time.perf_counter()
    result = fit("cnn2d", uri, train_ids, config)
    seconds = time.perf_counter() - start
    metrics = evaluate(result, uri, split.test_ids)
    high_ids = np.intersect1d(split.test_ids, index.ids[index.snr_db >= 0])
    high = evaluate(result, uri, high_ids)
    return {
        **metrics,
        "accuracy_snr_ge_0": high["accuracy"],
        "confusion_snr_ge_0": high["confusion"],
        "top_confusions": confused_pairs(high, 6),
        "train_frames": len(train_ids),
        "train_seconds": seconds,
        "history": result.history,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--gpu", action="store_true")
    args = parser.parse_args()
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        workers=args.workers,
        use_gpu=args.gpu,
    )
    with tempfile.TemporaryDirectory() as out:
        report = calibrate(args.scale, config, out)
    report["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    report["settings"] = {"scale": args.scale, **vars(args)}
    print(f"cnn2d on synthetic rml2016a, scale {args.scale}: {report['train_frames']} training")
    print(f"frames, {args.epochs} epochs, {report['train_seconds']:.0f} s")
    for snr, acc in report["per_snr"].items():
        print(f"  SNR {float(snr):+5.0f} dB  {acc:6.1%}  {'#' * round(acc * 50)}")
    overall, high = report["accuracy"], report["accuracy_snr_ge_0"]
    print(f"accuracy overall {overall:.1%}, at SNR >= 0 dB {high:.1%}")
    print("(published VT-CNN2 on the real RML2016.10a, 110k training frames: about 70-73 %)")
    print("largest confusions at SNR >= 0 dB (true -> predicted, share of the true class):")
    for true, predicted, share in report["top_confusions"]:
        print(f"  {true:7s} -> {predicted:7s} {share:.1%}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
