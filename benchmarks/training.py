"""Training speed per model, and the cost of Ray Train over in-process training.

Prints:
* training samples/s (forward + backward + Adam step, batch 256) for every model at
  (L=128, 11 classes) and (L=1024, 24 classes), on the CPU and on CUDA when present;
* wall time of the same ``fit`` in-process and on Ray Train with one worker, and the overhead
  ratio (goal: <= 10 % on a run of a few minutes).

    python -m benchmarks.training [--steps 5] [--overhead-epochs 10] [--overhead-scale 0.05]

Results are merged into benchmarks/results/training.json (``--results``; a partial rerun keeps
the rest).

Options for other machines (benchmarks/gpu.sh): ``--devices cuda`` (default: the CPU, and CUDA
when present), ``--shapes 1024x24`` (default ``128x11 1024x24``), ``--batch`` for the
throughput steps, and one real training epoch per model with ``--epoch-models cnn1d cnn2d
--epoch-frames 200000 --epoch-shape 1024x24 --epoch-batch 1024 [--amp]``: ``engine.training.fit``
in-process (``use_gpu`` on CUDA) on seeded random frames written to a temporary dataset, two
epochs, the second one timed (the first pays CUDA's and cuDNN's start-up); its samples/s is
set against the resident-tensor steps at the same batch (``epoch_vs_resident``: what reading
the batch from host memory and copying it to the device costs, the training code keeps the
frames on the host).
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

import torch

import models

RESULTS = Path(__file__).parent / "results" / "training.json"


def samples_per_second(
    name: str, length: int, classes: int, device: str, steps: int, batch: int = 256
) -> float:
    """Training throughput of one model on random frames (after one warm-up step)."""
    torch.manual_seed(0)
    model = models.build(name, classes, length).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 2, length, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
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
    return batch * steps / (time.perf_counter() - start)


def one_epoch(
    name: str,
    frames: int,
    length: int,
    classes: int,
    device: str,
    batch: int,
    amp: bool = False,
    workdir: str | None = None,
    write_workers: int = 1,
) -> dict:
    """One epoch of ``engine.training.fit`` (in-process) on ``frames`` seeded random frames.

    Two epochs run; the second is timed between the ``on_epoch`` calls (the weights' copy to
    the host that ``on_epoch`` makes is inside the clock, a few ms).
    """
    from benchmarks.scoring import check_free_disk, write_pool
    from engine.data.store import read_index
    from engine.training import TrainConfig, fit

    with tempfile.TemporaryDirectory(prefix="duse-epoch-", dir=workdir) as out:
        check_free_disk(out, frames, length)
        uri = f"{out}/ds"
        write_pool(uri, frames, length, classes, workers=write_workers)
        ids = read_index(uri).ids
        config = TrainConfig(
            epochs=2, batch_size=batch, use_gpu=device == "cuda", amp=amp, min_steps=0
        )
        ends: list[float] = []
        start = time.perf_counter()
        result = fit(
            name, uri, ids, config, on_epoch=lambda epoch, weights: ends.append(time.perf_counter())
        )
        fit_s = time.perf_counter() - start
    epoch_s = ends[1] - ends[0]
    return {
        "model": name,
        "frames": frames,
        "length": length,
        "classes": classes,
        "device": device,
        "batch": batch,
        "amp": amp,
        "steps_per_epoch": int(result.history[1]["steps"] - result.history[0]["steps"]),
        "read_and_first_epoch_s": ends[0] - start,
        "epoch_s": epoch_s,
        "epoch_samples_per_s": frames / epoch_s,
        "fit_s": fit_s,
    }


def _shape(text: str) -> tuple[int, int]:
    """``"1024x24"`` -> ``(1024, 24)`` (frame length, classes)."""
    length, _, classes = text.partition("x")
    return int(length), int(classes)


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model")
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--batch", type=int, default=256, help="frames per throughput step")
    parser.add_argument(
        "--devices", nargs="+", choices=("cpu", "cuda"), default=None,
        help="default: cpu, and cuda when present",
    )  # fmt: skip
    parser.add_argument(
        "--shapes", nargs="+", type=_shape, default=[(128, 11), (1024, 24)],
        metavar="LxC", help="frame length x classes (default 128x11 1024x24)",
    )  # fmt: skip
    parser.add_argument("--overhead-model", default="cnn2d")
    parser.add_argument("--overhead-scale", type=float, default=0.05)
    parser.add_argument("--overhead-epochs", type=int, default=10)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--epoch-models", nargs="*", default=[], help="one fit epoch each")
    parser.add_argument("--epoch-frames", type=int, default=200_000)
    parser.add_argument("--epoch-shape", type=_shape, default=(1024, 24), metavar="LxC")
    parser.add_argument("--epoch-batch", type=int, default=1024)
    parser.add_argument("--amp", action="store_true", help="the epoch with bfloat16 autocast")
    parser.add_argument("--workdir", default=None, help="where the epoch's frames go (temp)")
    parser.add_argument("--write-workers", type=int, default=1, help="processes writing them")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON report (merged)")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    devices = args.devices or (["cpu"] + (["cuda"] if cuda else []))
    if "cuda" in devices and not cuda:
        raise SystemExit("--devices cuda: torch sees no CUDA device")
    gpu = torch.cuda.get_device_name() if cuda else None
    # a partial rerun (--models, --skip-overhead) updates what it measured, keeps the rest
    results = args.results
    report = json.loads(results.read_text()) if results.exists() else {"throughput": {}}
    report["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, threads {torch.get_num_threads()}"
    )
    report["gpu"] = gpu
    report["command"] = "python -m benchmarks.training " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    report["load_average_at_start"] = os.getloadavg()
    print(report["machine"], "| GPU:", gpu)
    for name in args.models or models.available():
        for length, classes in args.shapes:
            for device in devices:
                rate = samples_per_second(name, length, classes, device, args.steps, args.batch)
                suffix = "" if args.batch == 256 else f"/b{args.batch}"
                report["throughput"][f"{name}/L{length}/{device}{suffix}"] = rate
                print(f"{name:9s} L={length:5d} {device:4s} {rate:10,.0f} samples/s")
    if args.epoch_models:
        device = devices[-1]  # cuda when it is measured
        length, classes = args.epoch_shape
        report.setdefault("epoch", {})
        for name in args.epoch_models:
            record = one_epoch(
                name,
                args.epoch_frames,
                length,
                classes,
                device,
                args.epoch_batch,
                args.amp,
                args.workdir,
                args.write_workers,
            )
            resident = samples_per_second(
                name, length, classes, device, args.steps, args.epoch_batch
            )
            record["resident_samples_per_s"] = resident
            record["epoch_vs_resident"] = record["epoch_samples_per_s"] / resident
            key = f"{name}/L{length}/{device}/b{args.epoch_batch}" + ("/amp" if args.amp else "")
            report["epoch"][key] = record
            print(
                f"epoch {key}: {args.epoch_frames:,} frames in {record['epoch_s']:.2f} s "
                f"({record['epoch_samples_per_s']:,.0f} samples/s; reading + first epoch "
                f"{record['read_and_first_epoch_s']:.2f} s), resident steps "
                f"{resident:,.0f} samples/s, epoch / resident = {record['epoch_vs_resident']:.3f}"
            )
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
    report["load_average_at_end"] = os.getloadavg()
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2))
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
