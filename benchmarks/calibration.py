"""Calibration: a reference model on a synthetic profile behaves like on the real dataset.

Generates ``--profile`` at ``--scale``, trains the reference model on a stratified half of it
(every SNR; the other half is the test set, as in the VT-CNN2 notebook), and prints accuracy
per SNR beside the published curve, the targets of issue 18 (met or not) and the largest
confusions at high SNR:

* ``rml2016a``: VT-CNN2 (``cnn2d``) against the radioML notebook's curve on the real
  RML2016.10a (amr_data.md 7): >= 68 % mean for SNR >= 0, plateau by +4 dB, <= 15 % at -20 dB,
  QPSK, 8PSK, BPSK, PAM4 >= 85 % at >= 10 dB, QAM16/QAM64 and WBFM/AM-DSB the top confusions;
* ``rml2018a``: a 1-D CNN against O'Shea 2018's ResNet (mid-90s % at >= +10 dB, near chance
  at -20 dB);
* ``sigzsl7``: a supervised 7-class CNN on every class, recorded as the ceiling of SigZSLNet's
  seen accuracy S (no published curve).

    python -m benchmarks.calibration --profile rml2016a [--scale 0.1] [--epochs 12]

Writes ``benchmarks/results/calibration-<profile>.json`` and ``.png`` (both curves).
"""

from __future__ import annotations

import argparse
import json
import logging
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
from engine.training import TrainConfig, confused_pairs, evaluate, fit

RESULTS = Path(__file__).parent / "results"

# VT-CNN2 on the real RML2016.10a, radioML/examples notebook (amr_data.md 7): accuracy in % at
# SNR -20, -18, ..., +18 dB
_PUBLISHED = "9.6 9.2 10.0 10.4 15.0 22.8 34.9 49.3 58.9 64.9 70.4 70.9 72.3 72.8 71.8 73.3 72.4"
VT_CNN2_RML2016A = {
    snr: float(value) / 100
    for snr, value in zip(range(-20, 20, 2), (_PUBLISHED + " 72.9 72.5 72.4").split(), strict=True)
}
DEFAULT_MODEL = {"rml2016a": "cnn2d", "rml2018a": "cnn1d", "sigzsl7": "cnn1d"}
HIGH_SNR_DB = {"rml2016a": 0.0, "rml2018a": 10.0, "sigzsl7": 0.0}  # confusions taken above


def calibrate(profile: str, model: str, scale: float, config: TrainConfig, out: str) -> dict:
    """Generate, split (half test, half train), train ``model`` and evaluate.

    Confusions are taken over the test frames at SNR >= ``HIGH_SNR_DB[profile]``, where they
    mean something (far below, every class is confused with every other).
    """
    uri = f"{out}/{profile}"
    generate(profile, uri, scale=scale, seed=config.seed, executor="local")
    index, meta = read_index(uri), read_meta(uri)
    split = make_split(index, meta.num_classes, test=0.5, target=0.5, seed=config.seed)
    train_ids = np.concatenate([split.target_ids, split.pool_ids])
    start = time.perf_counter()
    result = fit(model, uri, train_ids, config)
    seconds = time.perf_counter() - start
    metrics = evaluate(result, uri, split.test_ids)
    high_ids = np.intersect1d(split.test_ids, index.ids[index.snr_db >= HIGH_SNR_DB[profile]])
    high = evaluate(result, uri, high_ids)
    per_class_10 = evaluate(
        result, uri, np.intersect1d(split.test_ids, index.ids[index.snr_db >= 10])
    )["per_class"]
    return {
        **metrics,
        "high_snr_db": HIGH_SNR_DB[profile],
        "accuracy_high_snr": high["accuracy"],
        "confusion_high_snr": high["confusion"],
        "top_confusions": confused_pairs(high, 6),
        "per_class_snr_ge_10": per_class_10,
        "train_frames": len(train_ids),
        "train_seconds": round(seconds, 1),
        "history": result.history,
    }


def _mean(per_snr: dict, low: float, high: float = 1e9) -> float:
    values = [acc for snr, acc in per_snr.items() if low <= float(snr) <= high]
    return float(np.mean(values))


def targets(profile: str, report: dict) -> dict[str, dict]:
    """Issue 18's targets for ``profile``: ``{name: {"value", "target", "met"}}``."""
    per_snr = report["per_snr"]
    lowest = min(per_snr, key=float)
    checks: dict[str, tuple[float, str, bool]] = {}
    if profile == "rml2016a":
        plateau = _mean(per_snr, 10)
        at_4 = per_snr[min(per_snr, key=lambda s: abs(float(s) - 4))]
        mean_0 = _mean(per_snr, 0)
        checks["mean SNR >= 0"] = (mean_0, ">= 0.68", mean_0 >= 0.68)
        # "as hard as the real set, and no harder": within 5 points of the published 72.2 %
        published_0 = _mean(VT_CNN2_RML2016A, 0)
        checks["mean SNR >= 0, above the published"] = (
            mean_0 - published_0,
            "<= +0.05",
            mean_0 - published_0 <= 0.05,
        )
        checks["plateau by +4 dB (acc(4) - mean(>= 10))"] = (
            at_4 - plateau,
            ">= -0.05",
            at_4 - plateau >= -0.05,
        )
        checks[f"accuracy at {lowest} dB"] = (per_snr[lowest], "<= 0.15", per_snr[lowest] <= 0.15)
        for name in ("QPSK", "8PSK", "BPSK", "PAM4"):
            value = report["per_class_snr_ge_10"][name]
            checks[f"{name} at >= 10 dB"] = (value, ">= 0.85", value >= 0.85)
        expected = {("QAM16", "QAM64"), ("QAM64", "QAM16"), ("WBFM", "AM-DSB"), ("AM-DSB", "WBFM")}
        top = [tuple(pair[:2]) for pair in report["top_confusions"][:2]]
        checks["top 2 confusions in QAM16/QAM64, WBFM/AM-DSB"] = (
            float(sum(pair in expected for pair in top)),
            "== 2",
            all(pair in expected for pair in top),
        )
    elif profile == "rml2018a":
        high = _mean(per_snr, 10)
        checks["mean SNR >= +10 dB"] = (high, ">= 0.93 (mid-90s)", high >= 0.93)
        checks[f"accuracy at {lowest} dB"] = (per_snr[lowest], "<= 0.10", per_snr[lowest] <= 0.10)
    return {
        name: {"value": round(value, 4), "target": target, "met": met}
        for name, (value, target, met) in checks.items()
    }


def _plot(profile: str, report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    snrs = sorted(report["per_snr"], key=float)
    ax.plot([float(s) for s in snrs], [report["per_snr"][s] for s in snrs], "o-", label="ours")
    if profile == "rml2016a":
        ax.plot(list(VT_CNN2_RML2016A), list(VT_CNN2_RML2016A.values()), "s--", label="published")
    if profile == "rml2018a":
        ax.axhspan(0.93, 0.97, xmin=0.6, color="grey", alpha=0.3, label="published (mid-90s)")
    ax.set(
        xlabel="SNR label (dB)",
        ylabel="test accuracy",
        ylim=(0, 1),
        title=f"{report['settings']['model']} on synthetic {profile} "
        f"(scale {report['settings']['scale']:g})",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _print(profile: str, report: dict) -> None:
    settings = report["settings"]
    print(
        f"{settings['model']} on synthetic {profile}, scale {settings['scale']:g}: "
        f"{report['train_frames']} training frames, {settings['epochs']} epochs, "
        f"{report['train_seconds']:.0f} s"
    )
    published = VT_CNN2_RML2016A if profile == "rml2016a" else {}
    for snr, acc in report["per_snr"].items():
        ref = published.get(round(float(snr)))
        beside = f"  published {ref:6.1%}" if ref is not None else ""
        print(f"  SNR {float(snr):+5.0f} dB  {acc:6.1%}{beside}  {'#' * round(acc * 40)}")
    print(
        f"accuracy overall {report['accuracy']:.1%}, "
        f"at SNR >= {report['high_snr_db']:g} dB {report['accuracy_high_snr']:.1%}"
    )
    for name, check in report["targets"].items():
        verdict = "met" if check["met"] else "NOT met"
        print(f"  target {name}: {check['value']:.3f} ({check['target']}) {verdict}")
    print(f"largest confusions at SNR >= {report['high_snr_db']:g} dB (true -> predicted):")
    for true, predicted, share in report["top_confusions"]:
        print(f"  {true:9s} -> {predicted:9s} {share:.1%}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(DEFAULT_MODEL), default="rml2016a")
    parser.add_argument("--model", help="default: cnn2d for rml2016a, else cnn1d")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the results")
    args = parser.parse_args(argv)
    if not args.scale > 0 or args.epochs < 1:  # generate() allows scale > 1 (more frames)
        parser.error(f"--scale must be > 0 and --epochs >= 1, got {args.scale}, {args.epochs}")
    model = args.model or DEFAULT_MODEL[args.profile]
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule="cosine",
        seed=args.seed,
        workers=args.workers,
        use_gpu=args.gpu,
    )
    logging.basicConfig(format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("duse.engine.training").setLevel(logging.DEBUG)  # a line per epoch
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory() as out:
        report = calibrate(args.profile, model, args.scale, config, out)
    report["settings"] = {**vars(args), "model": model, "out": str(args.out)}
    report["targets"] = targets(args.profile, report)
    report["generator_version"] = GENERATOR_VERSION
    report["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
    report["load"] = {"before": load_before, "after": list(os.getloadavg())}
    report["command"] = "python -m benchmarks.calibration " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    _print(args.profile, report)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"calibration-{args.profile}.json"
    path.write_text(json.dumps(report, indent=1))
    _plot(args.profile, report, path.with_suffix(".png"))
    print(f"wrote {path} and {path.with_suffix('.png').name}")


if __name__ == "__main__":
    main()
