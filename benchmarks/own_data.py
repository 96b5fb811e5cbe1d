"""Your own data, end to end: a SigMF capture as the target, an ``rml2018a``-profile pool.

The target is NOT made by ``engine.data``: :func:`capture` below is an independent numpy
generator (its own pulse shaping, 4 samples per symbol instead of the pool's 8, RRC roll-off
0.25 instead of 0.35, 1 MS/s, other class spellings, lower-case labels), written as SigMF
recordings by the ``sigmf`` library. The pool is the ``rml2018a`` look-alike (24 classes,
L=1024). The path is the one docs/own-data.md walks:

    duse data convert --from sigmf  (target capture and a separate test capture)
    duse benchmark with target / pool / test, class_map GMSK -> gfsk, length_policy resample
    (L=1024 at 8 samples per symbol -> L=512 at 4), pool SNR >= 0 dB

and compares target-only, random, margin and DUSE (T=3 rounds) at the same budget (300 frames)
over 3 seeds, with ``resnet1d`` trained 10 epochs (the ``min_steps`` rule shrinks the batch on
the small sets). Results:
``benchmarks/results/own-data/`` (results.md / .json from the benchmark, plus own_data.json
with target-only and the paired differences).

    python -m benchmarks.own_data [--out runs/own-data] [--count 300] [--seeds 0,1,2] [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

CLASSES = ("bpsk", "qpsk", "8psk", "qam16", "gfsk")
RATE_HZ = 1e6
SPS = 4
FRAME = 512
RESULTS = Path(__file__).parent / "results" / "own-data"


# --------------------------------------------------------------------------- the generator


def _rrc(beta: float, sps: int, span: int) -> np.ndarray:
    """Root-raised-cosine taps, unit energy."""
    t = np.arange(-span * sps, span * sps + 1) / sps
    taps = np.empty_like(t)
    for k, x in enumerate(t):
        if np.isclose(x, 0):
            taps[k] = 1 - beta + 4 * beta / np.pi
        elif np.isclose(abs(x), 1 / (4 * beta)):
            taps[k] = (
                beta
                / np.sqrt(2)
                * (
                    (1 + 2 / np.pi) * np.sin(np.pi / (4 * beta))
                    + (1 - 2 / np.pi) * np.cos(np.pi / (4 * beta))
                )
            )
        else:
            num = np.sin(np.pi * x * (1 - beta)) + 4 * beta * x * np.cos(np.pi * x * (1 + beta))
            taps[k] = num / (np.pi * x * (1 - (4 * beta * x) ** 2))
    return taps / np.sqrt(np.sum(taps**2))


def _constellation(name: str) -> np.ndarray:
    if name == "qam16":
        levels = np.array([-3, -1, 1, 3])
        points = (levels[:, None] + 1j * levels[None, :]).ravel()
        return points / np.sqrt(np.mean(np.abs(points) ** 2))
    order = {"bpsk": 2, "qpsk": 4, "8psk": 8}[name]
    return np.exp(1j * (2 * np.pi * np.arange(order) / order + (np.pi / 4 if order == 4 else 0)))


def _linear(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    symbols = rng.choice(_constellation(name), n // SPS + 32)
    upsampled = np.zeros(len(symbols) * SPS, complex)
    upsampled[::SPS] = symbols
    shaped = np.convolve(upsampled, _rrc(0.25, SPS, 6), mode="same")
    return shaped[64 : 64 + n] / np.sqrt(np.mean(np.abs(shaped) ** 2))


def _gfsk(n: int, rng: np.random.Generator, bt: float = 0.5, h: float = 0.5) -> np.ndarray:
    bits = np.repeat(rng.choice([-1.0, 1.0], n // SPS + 32), SPS)
    t = np.arange(-2 * SPS, 2 * SPS + 1) / SPS
    sigma = np.sqrt(np.log(2)) / (2 * np.pi * bt)
    gauss = np.exp(-(t**2) / (2 * sigma**2))
    freq = np.convolve(bits, gauss / gauss.sum(), mode="same")
    phase = np.pi * h * np.cumsum(freq) / SPS
    return np.exp(1j * phase[64 : 64 + n])


def burst(name: str, n: int, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` complex samples of one modulation through a random phase, CFO and AWGN."""
    signal = _gfsk(n, rng) if name == "gfsk" else _linear(name, n, rng)
    cfo = rng.uniform(-2e3, 2e3) / RATE_HZ  # cycles per sample
    k = np.arange(n)
    signal = signal * np.exp(1j * (2 * np.pi * cfo * k + rng.uniform(0, 2 * np.pi)))
    noise_power = 10 ** (-snr_db / 10)
    noise = np.sqrt(noise_power / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    return (signal + noise).astype(np.complex64)


def capture(path: Path, frames_per_class: int, seed: int, frames_per_burst: int = 4) -> Path:
    """A SigMF recording: bursts of ``frames_per_burst`` frames, one annotation each (label and
    SNR in dB under ``sim:snr_db``), SNR uniform on 0..20 dB in 2 dB steps."""
    from sigmf import SigMFFile

    rng = np.random.default_rng(seed)
    bursts = []
    for name in CLASSES:
        for _ in range(frames_per_class // frames_per_burst):
            snr = float(rng.choice(np.arange(0, 21, 2)))
            bursts.append((name, snr, burst(name, FRAME * frames_per_burst, snr, rng)))
    order = rng.permutation(len(bursts))
    samples = np.concatenate([bursts[k][2] for k in order])
    path.parent.mkdir(parents=True, exist_ok=True)
    data_file = path.with_suffix(".sigmf-data")
    samples.tofile(data_file)
    recording = SigMFFile(
        data_file=str(data_file),
        global_info={
            "core:datatype": "cf32_le",
            "core:sample_rate": RATE_HZ,
            "core:description": "independent numpy generator (benchmarks/own_data.py)",
        },
    )
    recording.add_capture(0, metadata={"core:frequency": 915e6})
    for position, k in enumerate(order):
        name, snr, _ = bursts[k]
        start = position * FRAME * frames_per_burst
        recording.add_annotation(
            start, FRAME * frames_per_burst, metadata={"core:label": name, "sim:snr_db": snr}
        )
    recording.tofile(str(path), overwrite=True)
    return path.with_suffix(".sigmf-meta")


# --------------------------------------------------------------------------- the run


def _convert(meta_file: Path, out: Path) -> None:
    from engine.data.loaders import convert

    if not (out / "dataset.json").exists():
        convert("sigmf", str(meta_file), str(out), frame_length=FRAME, snr_key="sim:snr_db")


def _target_only(config, seeds: list[int]) -> dict[int, float]:
    """Test accuracy of the evaluation model trained on the target alone, per seed (the same
    training settings and seed as the benchmark's evaluation models)."""
    from dataclasses import replace

    from engine.benchmark import eval_seed
    from engine.data.splits import Split
    from engine.training import evaluate, fit

    accuracy = {}
    for seed in seeds:
        split = Split.load(os.path.join(config.out, "splits", f"seed-{seed}.json"))
        train = replace(config.eval_train or config.train, seed=eval_seed(seed, 0))
        weights = fit(config.eval_models[0], config.data, split.target_ids, train)
        accuracy[seed] = evaluate(weights, config.data, split.test_ids)["accuracy"]
    return accuracy


def _paired(first: list[float], second: list[float]) -> dict[str, float]:
    """Mean and std of the per-seed differences, and the paired t-test's two-sided p."""
    from scipy.stats import ttest_rel

    diff = np.subtract(first, second)
    p = float(ttest_rel(first, second).pvalue) if len(diff) > 1 and diff.std() > 0 else None
    return {
        "mean": float(diff.mean()),
        "std": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0,
        "p_paired_t": p,
    }


def _summary(runs: list[dict], target_only: dict[int, float], config) -> dict:
    model = config.eval_models[0]
    by_method: dict[str, dict[int, float]] = {"target-only": target_only}
    for run in runs:
        by_method.setdefault(run["method"], {})[run["seed"]] = run["evaluations"][model]["accuracy"]
    seeds = sorted(target_only)
    accuracy = {
        name: {
            "per_seed": [values[s] for s in seeds],
            "mean": float(np.mean(list(values.values()))),
            "std": float(np.std(list(values.values()), ddof=1)),
        }
        for name, values in by_method.items()
    }
    differences = {
        f"{name} - {base}": _paired(accuracy[name]["per_seed"], accuracy[base]["per_seed"])
        for name in by_method
        for base in ("target-only", "random")
        if name not in (base, "target-only")
    }
    return {"seeds": seeds, "accuracy": accuracy, "differences": differences}


def _machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, CPU only"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/own-data")
    parser.add_argument("--count", type=int, default=300, help="frames to add (the budget)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--pool-scale", type=float, default=0.01, help="rml2018a profile scale")
    parser.add_argument("--model", default="resnet1d", help="round and evaluation model")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="DUSE rounds T")
    parser.add_argument("--target-per-class", type=int, default=32)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/own-data")
    args = parser.parse_args()
    from dataclasses import replace

    from engine.benchmark import BenchmarkConfig, run_benchmark, sources_of
    from engine.data.align import build_working_set
    from engine.data.generate import generate

    out = Path(args.out).absolute()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    start = time.perf_counter()
    _convert(capture(out / "captures" / "target", args.target_per_class, seed=101), out / "target")
    _convert(capture(out / "captures" / "test", args.test_per_class, seed=202), out / "test")
    if not (out / "pool" / "dataset.json").exists():
        generate("rml2018a", str(out / "pool"), scale=args.pool_scale, seed=0, progress=True)
    values = {
        "target": str(out / "target"),
        "pool": str(out / "pool"),
        "test": str(out / "test"),
        "out": str(out / "benchmark"),
        "class_map": {"GMSK": "gfsk"},
        "length_policy": "resample",
        "pool_snr_min_db": 0,
        "methods": ["random", "margin", "duse"],
        "duse_orders": ["smallest_first"],
        "duse_rounds": args.rounds,
        "seeds": seeds,
        "model": args.model,
        "eval_models": [args.model],
        "train": {"epochs": args.epochs, "batch_size": 32},
        "figures": False,
        "tune": {"max_concurrent_trials": 1, "cpus_per_trial": 1},
    }
    config = BenchmarkConfig.from_dict({**values, "rates": [0.5]})
    working = build_working_set(sources_of(config), str(out / "benchmark" / "data"))
    pool_size = sum(working.report["pool"]["kept_per_class"].values())
    config = replace(config, rates=(args.count / pool_size,))
    result = run_benchmark(config)
    target_only = _target_only(replace(config, data=working.uri, out=str(out / "benchmark")), seeds)
    summary = {
        "command": "python -m benchmarks.own_data "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "record"),
        "machine": _machine(),
        "load": os.getloadavg(),
        "wall_s": round(time.perf_counter() - start, 1),
        "budget": args.count,
        "pool_size": pool_size,
        "target_size": working.report["target"]["kept_per_class"],
        "test_size": sum(working.report["test"]["kept_per_class"].values()),
        "alignment": working.report["pool"],
        **_summary(result.runs, target_only, config),
    }
    print(result.table)
    print(json.dumps({k: summary[k] for k in ("accuracy", "differences")}, indent=1))
    if args.record:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "own_data.json").write_text(json.dumps(summary, indent=1))
        for name in ("results.md", "results.json", "results.csv"):
            shutil.copy(out / "benchmark" / name, RESULTS / name)


if __name__ == "__main__":
    main()
