"""Training speed per model, and the cost of Ray Train over in-process training.

Prints:
* training samples/s (forward + backward + Adam step, batch 256) for every model at
  (L=128, 11 classes) and (L=1024, 24 classes), on the CPU and on CUDA when present;
* wall time of the same ``fit`` in-process and on Ray Train with one worker, and the overhead
  ratio (goal: <= 10 % on a run of a few minutes).

    python -m benchmarks.training [--steps 5] [--overhead-epochs 10] [--overhead-scale 0.05]

Results are merged into benchmarks/results/training.json (a partial rerun keeps the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

import models

RESULTS = Path(__file__).parent / "results" / "training.json"


def samples_per_second(name: str, length: int, classes: int, device: str, steps: int) -> float:
    """Training throughput of one model on random frames (after one warm-up step)."""
    torch.manual_seed(0)
    model = models.build(name, classes, length).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(256, 2, length, device=device)
    y = torch.randint(0, classes, (256,), device=device)
    for step in range(steps + 1):
        if step == 1:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return 256 * steps / (time.perf_counter() - start)


def ray_train_overhead(model: str, scale: float, epochs: int) -> dict:
    """Wall time of one ``fit`` in-process vs on Ray Train (1 worker, all cores)."""
    from engine._internal.ray_runtime import ensure_ray
    from engine.data.generate import generate
    from engine.data.store import read_index
    from engine.training import TrainConfig, fit

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as out:
        uri = f"{out}/ds"
        generate("rml2016a", uri, scale=scale, seed=0, executor="local")
        ids = read_index(uri).ids
        ensure_ray()  # Ray start-up is paid once per session, not per fit
        timings = {}
        for label, workers in (("in_process", 0), ("ray_train_1_worker", 1)):
            config = TrainConfig(
                epochs=epochs, batch_size=256, workers=workers, cpus_per_worker=cores
            )
            torch.set_num_threads(cores)
            start = time.perf_counter()
            fit(model, uri, ids, config)
            timings[label] = time.perf_counter() - start
    timings["overhead"] = timings["ray_train_1_worker"] / timings["in_process"] - 1
    timings.update({"model": model, "frames": len(ids), "epochs": epochs})
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model")
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--overhead-model", default="cnn2d")
    parser.add_argument("--overhead-scale", type=float, default=0.05)
    parser.add_argument("--overhead-epochs", type=int, default=10)
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    # a partial rerun (--models, --skip-overhead) updates what it measured, keeps the rest
    report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"throughput": {}}
    report["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, threads {torch.get_num_threads()}"
    )
    report["gpu"] = gpu
    print(report["machine"], "| GPU:", gpu)
    for name in args.models or models.available():
        for length, classes in ((128, 11), (1024, 24)):
            for device in devices:
                rate = samples_per_second(name, length, classes, device, args.steps)
                report["throughput"][f"{name}/L{length}/{device}"] = rate
                print(f"{name:9s} L={length:5d} {device:4s} {rate:10,.0f} samples/s")
    if not args.skip_overhead:
        overhead = ray_train_overhead(
            args.overhead_model, args.overhead_scale, args.overhead_epochs
        )
        report["ray_train_overhead"] = overhead
        print(
            f"fit {overhead['model']} on {overhead['frames']} frames x {overhead['epochs']} "
            f"epochs: in-process {overhead['in_process']:.1f} s, Ray Train 1 worker "
            f"{overhead['ray_train_1_worker']:.1f} s, overhead {overhead['overhead']:+.1%}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
