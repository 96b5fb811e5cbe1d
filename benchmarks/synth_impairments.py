"""Which impairment makes a look-alike harder than the real dataset (issue 18).

Two checks, each run with an old ``SignalConfig`` of the profile and one switch changed at a
time, and with the shipped one: for ``rml2016a``, generator version 1 (a per-frame random
channel, :func:`version_1`) against version 2 (the replayed channel); for ``rml2018a``,
version 2 (O'Shea 2018's per-frame impairments at their maxima, :func:`rml2018a_version_2`)
against version 3:

* a feature statistic that needs no training, per class at one SNR (default 18 dB): frames are
  matched-filtered (RRC, the profile's roll-off), sampled at the symbol rate (the phase of
  most energy) and summarised by
  ``c4`` = |mean(y⁴)| / mean(|y|²)² (QPSK 1, 8PSK ~0 up to the 1/√n noise of 12 symbols),
  ``kurt`` = mean(r⁴) / mean(r²)², r the real part after removing the 2nd-power phase
  (BPSK 1, PAM4 1.64), and for the analog classes ``c2ac`` = |mean(a²)| / mean(|a|²) of the
  frame minus its mean (AM-DSB ~1: a real message on the carrier; AM-SSB ~0); ``c8`` and
  ``c16``, the 8th- and 16th-power moments like ``c4`` (8PSK/16PSK, 16PSK/32PSK: a carrier
  that turns inside the frame wipes them out). The separation of a pair is
  d' = |μ₁ - μ₂| / √((σ₁² + σ₂²) / 2) over frames;
* a small training run (cnn1d, in-process, frames from ``synthesize_frames``, high SNRs only:
  10-18 dB for rml2016a, 10-30 dB for rml2018a), per-class test accuracy.

    python -m benchmarks.synth_impairments [--profile rml2016a] [--frames 400]
        [--train-per-key 60] [--epochs 5] [--train-variants A,B] [--skip-training] [--merge]

Writes benchmarks/results/synth-impairments.json (rml2016a) or
synth-impairments-<profile>.json (machine, load, command and both tables).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import models
from engine.data.modulation import rrc_taps
from engine.data.profiles import get_profile
from engine.data.synth import SignalConfig, synthesize_frames

RESULTS_DIR = Path(__file__).parent / "results"


def version_1() -> SignalConfig:
    """The rml2016a signal of generator version 1, before issue 18's calibration: a random
    per-frame Rician channel and carrier phase, CFO and SRO U(±50), AM-SSB with carrier. The
    recorded tables were measured on it, so the variants start from it."""
    return dataclasses.replace(
        get_profile("rml2016a").signal,
        fading="rician",
        carrier_phase=True,
        cfo_max_hz=50.0,
        sro_max_ppm=50.0,
        am_ssb_carrier=True,
    )


def variants(base: SignalConfig | None = None) -> dict[str, SignalConfig]:
    """The version-1 rml2016a config with one impairment switched off at a time, all of them
    off, and the shipped profile (``"rml2016a v2"``)."""
    base = base or version_1()
    shipped = get_profile("rml2016a").signal
    swap = dataclasses.replace
    off = {
        "fading": "none",
        "cfo_max_hz": 0.0,
        "sro_max_ppm": 0.0,
        "timing_offset": "none",
        "carrier_phase": False,
    }
    return {
        "rml2016a": base,
        "fading none": swap(base, fading="none"),
        "fading flat (1 path, K=4)": swap(base, path_delays_samples=(0.0,), path_gains=(1.0,)),
        "fading K=1e3 (LOS only)": swap(
            base, rician_k=1e3, path_delays_samples=(0.0,), path_gains=(1.0,)
        ),
        "cfo 0": swap(base, cfo_max_hz=0.0),
        "sro 0": swap(base, sro_max_ppm=0.0),
        "timing none": swap(base, timing_offset="none"),
        "carrier phase fixed": swap(base, carrier_phase=False),
        # fading draws its own LOS and scatter phases: both must go for a fixed frame phase
        "phase fixed + fading none": swap(base, carrier_phase=False, fading="none"),
        "normalisation power": swap(base, normalisation="power"),
        "analog silence 0": swap(base, silence_fraction=0.0),
        "AM-SSB noise only": swap(base, am_ssb_noise_only=True),
        # the real generator's channel: one seeded trajectory (0x1337) for every run, so no
        # per-frame phase, fading or CFO draw; the window start (timing) stays random
        "static channel": swap(base, **{k: v for k, v in off.items() if k != "timing_offset"}),
        "all off": swap(base, **off),
        "rml2016a v2": shipped,
        # how much orientation drift the replayed channel tolerates, and its AM-SSB choice
        "v2 phase spread pi/4": swap(shipped, carrier_phase=True, phase_spread_rad=math.pi / 4),
        "v2 phase spread pi/2": swap(shipped, carrier_phase=True, phase_spread_rad=math.pi / 2),
        "v2 phase spread pi": swap(shipped, carrier_phase=True, phase_spread_rad=math.pi),
        "v2 AM-SSB with carrier": swap(shipped, am_ssb_carrier=True),
    }


def rml2018a_version_2() -> SignalConfig:
    """The rml2018a signal of generator versions 1-2: O'Shea 2018's Table I impairments drawn
    afresh per frame at their maxima (Rician K=4 multipath, carrier phase, CFO U(±500 Hz),
    SRO U(±100 ppm)). Its calibration (docs/datasets.md) was measured on it."""
    return SignalConfig(profile="rml2018a", cfo_max_hz=500.0, sro_max_ppm=100.0, fading="rician")


def rml2018a_variants() -> dict[str, SignalConfig]:
    """Version 2 of rml2018a with one impairment changed at a time, and the shipped profile."""
    base = rml2018a_version_2()
    swap = dataclasses.replace
    walk = {"cfo_max_hz": 1.0, "sro_max_ppm": 5.0}  # GNU Radio's random walks (amr_data 1.3.5)
    return {
        "rml2018a v2": base,
        "cfo 0": swap(base, cfo_max_hz=0.0),
        "cfo 50 Hz": swap(base, cfo_max_hz=50.0),
        "sro 0": swap(base, sro_max_ppm=0.0),
        "cfo/sro random walk": swap(base, **walk),
        "walk + fading none": swap(base, **walk, fading="none"),
        "walk + flat fading (1 path K=4)": swap(
            base, **walk, path_delays_samples=(0.0,), path_gains=(1.0,)
        ),
        "walk + fading none + phase fixed": swap(base, **walk, fading="none", carrier_phase=False),
        "rml2018a shipped": get_profile("rml2018a").signal,
    }


@dataclass(frozen=True)
class Study:
    """What the two checks look at for one profile."""

    variants: dict[str, SignalConfig]
    watched: tuple[str, ...]  # the classes printed in the training table
    pairs: tuple[tuple[str, str, str], ...]  # (class, class, statistic)
    train_snrs: tuple[float, ...]
    train_variants: str  # the default --train-variants
    results: Path


def study(profile: str) -> Study:
    """The :class:`Study` of ``profile`` (rml2016a or rml2018a)."""
    if profile == "rml2016a":
        return Study(
            variants(),
            ("QPSK", "8PSK", "BPSK", "PAM4", "AM-DSB", "AM-SSB", "WBFM"),
            (("QPSK", "8PSK", "c4"), ("BPSK", "PAM4", "kurt"), ("AM-DSB", "AM-SSB", "c2ac")),
            (10.0, 12.0, 14.0, 16.0, 18.0),
            "rml2016a,fading none,carrier phase fixed,analog silence 0,all off",
            RESULTS_DIR / "synth-impairments.json",
        )
    if profile == "rml2018a":
        return Study(
            rml2018a_variants(),
            ("QPSK", "8PSK", "16PSK", "32PSK", "16APSK", "16QAM", "64QAM", "256QAM", "AM-SSB-SC"),
            (("QPSK", "8PSK", "c4"), ("8PSK", "16PSK", "c8"), ("16PSK", "32PSK", "c16")),
            (10.0, 14.0, 18.0, 22.0, 26.0, 30.0),
            "rml2018a v2,cfo 0,cfo/sro random walk,walk + fading none + phase fixed",
            RESULTS_DIR / "synth-impairments-rml2018a.json",
        )
    raise ValueError(f"no impairment study for profile {profile!r}; known: rml2016a, rml2018a")


def frame_statistics(frames: np.ndarray, config: SignalConfig) -> dict[str, np.ndarray]:
    """``c4``, ``c8``, ``c16``, ``kurt`` and ``c2ac`` per frame (module docstring).

    Args:
        frames: ``[n, 2, L]`` float32 from :func:`synthesize_frames`.
        config: the config that made them (roll-off and samples per symbol).

    Returns:
        Each statistic as ``[n]`` float64.
    """
    z = frames[:, 0].astype(np.float64) + 1j * frames[:, 1]
    sps = config.sps
    taps = rrc_taps(config.rolloff, 4, sps)
    matched = np.stack([np.convolve(row, taps, mode="valid") for row in z])
    usable = matched.shape[1] // sps * sps
    phases = matched[:, :usable].reshape(len(z), -1, sps)  # [n, symbols, phase]
    best = np.argmax(np.mean(np.abs(phases) ** 2, axis=1), axis=1)
    y = phases[np.arange(len(z)), :, best]  # [n, symbols]
    power = np.mean(np.abs(y) ** 2, axis=1)
    c4 = np.abs(np.mean(y**4, axis=1)) / power**2
    # c8, c16 over mean(|y|^m), not power^(m/2): bounded by 1 when the amplitude varies
    high = {
        f"c{m}": np.abs(np.mean(y**m, axis=1)) / np.mean(np.abs(y) ** m, axis=1) for m in (8, 16)
    }
    second = np.mean(y**2, axis=1)
    real = (y * np.exp(-0.5j * np.angle(second))[:, None]).real
    kurt = np.mean(real**4, axis=1) / np.mean(real**2, axis=1) ** 2
    ac = z - z.mean(axis=1, keepdims=True)
    c2ac = np.abs(np.mean(ac**2, axis=1)) / np.mean(np.abs(ac) ** 2, axis=1)
    return {"c4": c4, **high, "kurt": kurt, "c2ac": c2ac}


def statistic_table(profile_name: str, snr_db: float, n: int, seed: int) -> dict[str, dict]:
    """Per variant: mean/std of each statistic per paired class, and d' of each pair."""
    profile, plan = get_profile(profile_name), study(profile_name)
    classes = dict.fromkeys(c for a, b, _ in plan.pairs for c in (a, b))
    table = {}
    for name, config in plan.variants.items():
        rng = np.random.default_rng(seed)
        stats = {
            c: frame_statistics(
                synthesize_frames(config, c, snr_db, n, profile.length, rng), config
            )
            for c in classes
        }
        summary = {
            c: {k: [float(v.mean()), float(v.std())] for k, v in s.items()}
            for c, s in stats.items()
        }
        separation = {}
        for a, b, key in plan.pairs:
            (ma, sa), (mb, sb) = summary[a][key], summary[b][key]
            separation[f"{a}/{b} {key}"] = abs(ma - mb) / np.sqrt((sa**2 + sb**2) / 2)
        table[name] = {"classes": summary, "separation": separation}
    return table


def _frames(config, classes, snrs, per_key, length, rng):
    x, y = [], []
    for label, name in enumerate(classes):
        for snr in snrs:
            x.append(synthesize_frames(config, name, snr, per_key, length, rng))
            y.append(np.full(per_key, label))
    return torch.from_numpy(np.concatenate(x)), torch.from_numpy(np.concatenate(y))


def training_check(
    profile_name: str,
    config: SignalConfig,
    per_key: int,
    epochs: int,
    snrs: tuple[float, ...],
    seed: int,
) -> dict:
    """Train cnn1d on the profile's classes made with ``config``; per-class test accuracy."""
    profile = get_profile(profile_name)
    rng = np.random.default_rng(seed)
    x, y = _frames(config, profile.classes, snrs, per_key, profile.length, rng)
    xt, yt = _frames(config, profile.classes, snrs, max(20, per_key // 2), profile.length, rng)
    torch.manual_seed(seed)
    model = models.build("cnn1d", len(profile.classes), profile.length)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(x), generator=generator).split(64):
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(part).argmax(1) for part in xt.split(1024)])
    hit = (predicted == yt).numpy()
    truth, guess = yt.numpy(), predicted.numpy()
    per_class = {c: float(hit[truth == i].mean()) for i, c in enumerate(profile.classes)}
    top_confusion = {}
    for i, c in enumerate(profile.classes):
        wrong = guess[(truth == i) & ~hit]
        if len(wrong):
            j = np.bincount(wrong, minlength=len(profile.classes)).argmax()
            share = float(np.mean(guess[truth == i] == j))
            top_confusion[c] = [profile.classes[j], share]
    return {
        "accuracy": float(hit.mean()),
        "per_class": per_class,
        "top_confusion": top_confusion,
        "train_frames": len(x),
        "test_frames": len(xt),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="rml2016a", choices=("rml2016a", "rml2018a"))
    parser.add_argument("--snr-db", type=float, default=18.0)
    parser.add_argument("--frames", type=int, default=400, help="frames per class (statistic)")
    parser.add_argument("--train-per-key", type=int, default=60, help="frames per (class, SNR)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-variants", help="comma-separated (default: the profile's)")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the file's training runs made with the same settings (all, with "
        "--skip-training)",
    )
    args = parser.parse_args(argv)
    plan = study(args.profile)
    names = [] if args.skip_training else (args.train_variants or plan.train_variants).split(",")
    unknown = sorted(set(names) - set(plan.variants))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(plan.variants)}")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "load_before": list(os.getloadavg()),
        "command": "python -m benchmarks.synth_impairments "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "profile": args.profile,
        "snr_db": args.snr_db,
    }
    start = time.perf_counter()
    stats = statistic_table(args.profile, args.snr_db, args.frames, args.seed)
    report["statistic"] = stats
    report["statistic_seconds"] = round(time.perf_counter() - start, 1)
    _print_statistic(plan, stats, args.snr_db, args.frames)
    if args.skip_training and args.merge and plan.results.exists():  # keep its training runs
        kept = json.loads(plan.results.read_text()).get("training")
        if kept:
            report["training"] = kept
    if not args.skip_training:
        settings = {
            "model": "cnn1d",
            "epochs": args.epochs,
            "snr_db": list(plan.train_snrs),
            "train_per_key": args.train_per_key,
            "seed": args.seed,
        }
        runs = _kept_runs(plan.results, settings) if args.merge else {}
        report["training"] = {**settings, "runs": runs}
        low, high = plan.train_snrs[0], plan.train_snrs[-1]
        print(
            f"\ncnn1d, {args.epochs} epochs, SNR {low:g}-{high:g} dB, {args.train_per_key} "
            "train frames per (class, SNR): per-class test accuracy"
        )
        print(f"{'variant':32s} {'all':>5s} " + " ".join(f"{c:>7s}" for c in plan.watched))
        for name in names:
            t0 = time.perf_counter()
            run = training_check(
                args.profile,
                plan.variants[name],
                args.train_per_key,
                args.epochs,
                plan.train_snrs,
                args.seed,
            )
            run["seconds"] = round(time.perf_counter() - t0, 1)
            run["command"] = report["command"]
            run["load_after"] = list(os.getloadavg())
            runs[name] = run
            _write(plan.results, report, start)  # after every run: a long sweep keeps its part
            pc = run["per_class"]
            print(
                f"{name:32s} {run['accuracy']:5.2f} "
                + " ".join(f"{pc[c]:7.2f}" for c in plan.watched),
                flush=True,
            )
    _write(plan.results, report, start)
    print(f"wrote {plan.results}")


def _print_statistic(plan: Study, stats: dict, snr_db: float, frames: int) -> None:
    print(
        f"feature statistic at {snr_db:g} dB, {frames} frames per class: "
        "class means, and d' of each pair"
    )
    columns = [(c, key) for a, b, key in plan.pairs for c in (a, b)]
    keys = [f"{a}/{b} {k}" for a, b, k in plan.pairs]
    print(
        f"{'variant':32s} "
        + " ".join(f"{c[:6] + ' ' + k:>10s}" for c, k in columns)
        + " "
        + " ".join(f"{k.split()[0]:>13s}" for k in keys)
    )
    for name, row in stats.items():
        c = row["classes"]
        print(
            f"{name:32s} "
            + " ".join(f"{c[cls][key][0]:10.3f}" for cls, key in columns)
            + " "
            + " ".join(f"{row['separation'][k]:13.2f}" for k in keys),
            flush=True,
        )


def _kept_runs(results: Path, settings: dict) -> dict:
    """Training runs of the existing results file made with the same ``settings`` (--merge)."""
    if not results.exists():
        return {}
    old = json.loads(results.read_text())
    training = old.get("training", {})
    if any(training.get(k, v) != v for k, v in settings.items()):
        return {}
    runs = training.get("runs", {})
    for run in runs.values():
        run.setdefault("command", old.get("command"))
    return runs


def _write(results: Path, report: dict, start: float) -> None:
    report["load_after"] = list(os.getloadavg())
    report["seconds"] = round(time.perf_counter() - start, 1)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
