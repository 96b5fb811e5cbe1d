"""Pool scoring speed and memory: the compute ceiling, a plain PyTorch loop, our Ray Data pass.

Throughput, one model, one scorer (DUSE margin), the same cores and the same pool:

1. ceiling: the model's forward on resident tensors in a tight loop (no I/O, no scoring);
2. plain loop: what a user would write (and how DeepCore scores): read the Parquet shards
   with pyarrow, forward each batch, softmax, top-2 margin, keep the scores;
3. ours: ``engine.scoring.score_and_select`` on Ray Data (one actor holding all cores'
   threads; Ray is started before the clock), selecting 4 % of the pool.

Memory: the same pass with the ``random`` scorer (I/O only, the worst case for buffering) over
two pool sizes of ``rml2018a``-shaped frames (L=1024, 24 classes); the driver's and each Ray
worker's peak resident memory are sampled from /proc during the pass. The pools hold seeded
random frames written in the canonical format (speed depends on the shape, not the signal).

    python -m benchmarks.scoring [--pool 200000] [--model cnn1d] [--memory-sizes 50000 500000]

Per-pass cost (``--pass-sizes 4000 20000 100000 1000000``): the plain loop, Ray Data and the
``actors`` executor (Ray actors kept across passes, engine.scoring_actors) over pools of each
size, and the fixed cost of one pass after the first.

Inference paths (``--inference frozen compiled bf16``, engine.inference): per model
(``--models``), the forward alone on resident frames and the in-process scoring pass
(``score_and_select``, executor ``local``) for each ``ScoringConfig.inference``, with frames/s,
GFLOP/s (PyTorch's FLOP count) and the fraction of this CPU's fp32 peak
(benchmarks/hardware.py), the speed-up over eager, and how much of eager's selection each path
picks (``--inference-frames`` frames, 4 %). Interleaved over ``--repeats``, best kept.

Prints every figure and ratio and writes benchmarks/results/scoring.json (``--results``).

Other pool shapes and devices (benchmarks/gpu.sh): ``--length 1024 --classes 24`` for the
throughput pool, ``--models cnn1d cnn2d`` for several models over the same pool (their figures
under ``models``), ``--device cuda`` for the ceiling and the plain loop and ``--gpus-per-actor
1`` for the Ray pass (``ScoringConfig.gpus_per_actor``: the actor runs the model on CUDA),
``--batch`` frames per model call, ``--write-workers`` processes writing the pool. The pool is
checked against the free disk before it is written (1M frames at L=1024 are 8 GiB).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

import models
from benchmarks.hardware import cpu_peak, forward_flops
from engine.data.schema import Frames, ShardInfo
from engine.data.store import DatasetWriter, read_meta, shard_name, write_shard
from engine.inference import INFERENCE_MODES, PreparedForward
from engine.scoring import ScoringConfig, score_and_select
from engine.training import FitResult
from scorers import get_scorer
from scorers.uncertainty import top2_margin

RESULTS = Path(__file__).parent / "results" / "scoring.json"
BATCH = 1024
WRITE_CHUNK = 8192
DISK_SLACK_BYTES = 2**30  # free disk left after writing a pool


def pool_bytes(frames: int, length: int) -> int:
    """Bytes a pool of ``frames`` float32 ``[2, length]`` frames takes on disk (IQ plus index)."""
    return frames * (8 * length + 14)


def check_free_disk(directory: str, frames: int, length: int) -> None:
    """Refuse a pool that would not fit on ``directory``'s disk with 1 GiB to spare.

    Raises:
        SystemExit: one line naming the sizes and ``--workdir``.
    """
    need = pool_bytes(frames, length) + DISK_SLACK_BYTES
    free = shutil.disk_usage(directory).free
    if free < need:
        raise SystemExit(
            f"{frames:,} frames at L={length} need {need / 2**30:.1f} GiB on {directory}, "
            f"{free / 2**30:.1f} GiB free: pass a smaller --pool or another --workdir"
        )


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def write_pool(
    uri: str, frames: int, length: int, classes: int, seed: int = 0, workers: int = 1
) -> None:
    """A dataset of ``frames`` seeded random frames ``[2, length]`` (labels cycle over classes).

    A 64-frame random block is tiled with a per-chunk offset, so writing 4 GB stays fast.
    ``workers`` > 1 writes the shards in that many processes (the same dataset, byte for byte).
    """
    block = _random_block(seed, length)
    names = [f"class{c}" for c in range(classes)]
    with DatasetWriter(uri, names, length, [0.0], {"benchmark": "random frames"}) as writer:
        if workers <= 1:
            for start in range(0, frames, WRITE_CHUNK):
                writer.write(_pool_frames(block, start, min(start + WRITE_CHUNK, frames), classes))
            return
        rows = writer.rows_per_shard
        tasks = [
            (writer.staging_uri, index, start, min(start + rows, frames), length, classes, seed)
            for index, start in enumerate(range(0, frames, rows))
        ]
        with multiprocessing.get_context("spawn").Pool(min(workers, len(tasks))) as pool:
            for info in pool.imap(_write_pool_shard, tasks):  # in shard order
                writer.add_shard(info)


def _random_block(seed: int, length: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((64, 2, length)).astype(np.float32)


def _pool_frames(block: np.ndarray, start: int, stop: int, classes: int) -> Frames:
    """Frames ``start .. stop-1`` of :func:`write_pool`'s pool: frame ``i`` is
    ``block[i % 64]`` plus ``1e-3`` times its 8192-frame chunk's start modulo 97."""
    ids = np.arange(start, stop, dtype=np.int64)
    offsets = ((ids // WRITE_CHUNK * WRITE_CHUNK) % 97).astype(np.float32) * np.float32(1e-3)
    iq = block[ids % len(block)] + offsets[:, None, None]
    return Frames(ids, (ids % classes).astype(np.int16), np.zeros(len(ids), np.float32), iq)


def _write_pool_shard(task: tuple) -> ShardInfo:
    """One shard of :func:`write_pool` (in a worker process)."""
    staging, index, start, stop, length, classes, seed = task
    frames = _pool_frames(_random_block(seed, length), start, stop, classes)
    return write_shard(staging, shard_name(index), frames)


def _model(name: str, classes: int, length: int) -> FitResult:
    torch.manual_seed(0)
    network = models.build(name, classes, length).eval()
    return FitResult(name, classes, length, network.state_dict())


def ceiling(model: FitResult, batches: int, device: str = "cpu", batch: int = BATCH) -> float:
    """Samples/s of the forward pass alone on one resident batch (on ``device``)."""
    network = model.model().to(device)
    iq = torch.randn(batch, 2, model.length, device=device)
    with torch.inference_mode():
        network(iq)
        _sync(device)
        start = time.perf_counter()
        for _ in range(batches):
            network(iq)
        _sync(device)
    return batch * batches / (time.perf_counter() - start)


def plain_loop(model: FitResult, uri: str, device: str = "cpu", batch: int = BATCH) -> float:
    """Samples/s of a hand-written loop: pyarrow shards -> forward -> softmax -> margin."""
    network = model.model().to(device)
    meta = read_meta(uri)
    start, done, scores = time.perf_counter(), 0, []
    with torch.inference_mode():
        for shard in meta.shards:
            table = pq.read_table(f"{uri}/{shard.name}", columns=["id", "iq"])
            iq = table.column("iq").combine_chunks().storage.flatten().to_numpy()
            iq = iq.reshape(len(table), 2, meta.length).copy()  # writable for torch
            for first in range(0, len(iq), batch):
                logits = network(torch.from_numpy(iq[first : first + batch]).to(device))
                probs = torch.softmax(logits.double(), dim=1).cpu().numpy()
                scores.append(-top2_margin(probs))
                done += len(probs)
    seconds = time.perf_counter() - start
    assert done == meta.num_rows and sum(map(len, scores)) == done
    return done / seconds


def ours(
    model: FitResult,
    uri: str,
    scorer_name: str,
    threads: int,
    limit: int | None = None,
    gpus_per_actor: float = 0.0,
    batch: int = BATCH,
    executor: str = "ray",
) -> float:
    """Samples/s of ``score_and_select`` on Ray over the first ``limit`` ids (all: None).

    The clock includes the pass's actor start-up (Ray Data: every pass; ``executor="actors"``:
    only a first pass), not Ray's own start-up. ``gpus_per_actor`` > 0 runs the actor's model
    on CUDA (``ScoringConfig``).
    """
    meta = read_meta(uri)
    ids = np.arange(min(limit or meta.num_rows, meta.num_rows), dtype=np.int64)
    config = ScoringConfig(
        executor=executor,
        batch_size=batch,
        threads_per_actor=threads,
        gpus_per_actor=gpus_per_actor,
    )
    start = time.perf_counter()
    score_and_select(
        model,
        uri,
        ids,
        get_scorer(scorer_name),
        max(1, int(0.04 * len(ids))),
        balanced=False,
        num_classes=meta.num_classes,
        rng=np.random.default_rng(0),
        config=config,
    )
    return len(ids) / (time.perf_counter() - start)


class PeakMemory:
    """Samples the memory of this process and of every ``ray::`` worker every 0.2 s.

    Private memory is ``RssAnon`` (what a process allocated itself); ``RssShmem`` is Ray's
    shared object store mapped into a process, counted once for the node, not per worker.
    """

    def __init__(self) -> None:
        self.driver_start = _memory_bytes(os.getpid())["RssAnon"]
        self.driver_peak = self.driver_start
        self.worker_private_peak: dict[int, int] = {}
        self.worker_shared_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self) -> dict[str, int]:
        """The peaks in MiB: driver (and its growth), largest worker, mapped object store."""
        mib = 2**20
        return {
            "driver_private_growth_mib": round((self.driver_peak - self.driver_start) / mib),
            "driver_private_peak_mib": round(self.driver_peak / mib),
            "worker_private_peak_mib": round(
                max(self.worker_private_peak.values(), default=0) / mib
            ),
            "object_store_mapped_peak_mib": round(self.worker_shared_peak / mib),
        }

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.driver_peak = max(self.driver_peak, _memory_bytes(os.getpid())["RssAnon"])
            for pid in _ray_worker_pids():
                memory = _memory_bytes(pid)
                private = self.worker_private_peak.get(pid, 0)
                self.worker_private_peak[pid] = max(private, memory["RssAnon"])
                self.worker_shared_peak = max(self.worker_shared_peak, memory["RssShmem"])


def _memory_bytes(pid: int) -> dict[str, int]:
    """``RssAnon`` and ``RssShmem`` of ``pid`` in bytes (0 once it has exited)."""
    found = {"RssAnon": 0, "RssShmem": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":")[0]
            if key in found:
                found[key] = int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def _ray_worker_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def memory_run(workdir: str, frames: int, threads: int) -> dict:
    """Peak RSS of the driver and the workers while a pool of ``frames`` streams through."""
    uri = f"{workdir}/mem-{frames}"
    write_pool(uri, frames, 1024, 24)
    model = _model("cnn1d", 24, 1024)
    from engine._internal.ray_runtime import ensure_ray

    ensure_ray()
    with PeakMemory() as memory:
        rate = ours(model, uri, "random", threads)
    shutil.rmtree(uri)
    return {
        "frames": frames,
        "pool_gib": round(frames * 8 * 1024 / 2**30, 2),
        "rows_per_s": round(rate),
        **memory.figures(),
    }


def machine() -> dict:
    """The machine and accelerator a report was measured on."""
    cores = os.cpu_count() or 1
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {
        "machine": f"{platform.machine()}, {cores} cores, torch {torch.__version__}",
        "gpu": gpu,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pool", type=int, default=200_000, help="frames of the throughput pool (0: skip)"
    )
    parser.add_argument("--model", default="cnn1d")
    parser.add_argument(
        "--models", nargs="+", default=None, help="several models over one pool (under 'models')"
    )
    parser.add_argument("--length", type=int, default=128, help="frame length of the pool")
    parser.add_argument("--classes", type=int, default=11, help="classes of the pool")
    parser.add_argument("--batch", type=int, default=BATCH, help="frames per model call")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="ceiling and plain loop"
    )
    parser.add_argument(
        "--gpus-per-actor", type=float, default=0.0, help="the Ray pass's actor (> 0: CUDA)"
    )
    parser.add_argument("--ceiling-batches", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repetitions (best)")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[50_000, 500_000])
    parser.add_argument(
        "--pass-sizes",
        type=int,
        nargs="*",
        default=[],
        help="pools for the per-pass comparison of plain loop, Ray Data and kept actors",
    )
    parser.add_argument(
        "--inference",
        nargs="*",
        default=[],
        choices=INFERENCE_MODES,
        help="compare these inference paths with eager",
    )
    parser.add_argument(
        "--inference-frames", type=int, default=20_000, help="pool of the inference comparison"
    )
    parser.add_argument("--workdir", default=None, help="where the pools are written (temp)")
    parser.add_argument(
        "--write-workers", type=int, default=1, help="processes writing the throughput pool"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON report")
    args = parser.parse_args(argv)
    if (args.device == "cuda" or args.gpus_per_actor > 0) and not torch.cuda.is_available():
        raise SystemExit("--device cuda / --gpus-per-actor > 0: torch sees no CUDA device")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    workdir = tempfile.mkdtemp(prefix="duse-bench-", dir=args.workdir)
    report = {
        "command": "python -m benchmarks.scoring "
        + " ".join(sys.argv[1:] if argv is None else argv),
        **machine(),
        "model": args.model,
        "pool": args.pool,
        "length": args.length,
        "classes": args.classes,
        "batch": args.batch,
        "device": args.device,
        "gpus_per_actor": args.gpus_per_actor,
        "load_average_at_start": os.getloadavg(),
    }
    if args.models:  # their figures go under "throughput", one entry per model
        report.pop("model")
        report["models"] = args.models
    print(report["machine"], "| GPU:", report["gpu"])

    def save() -> None:
        report["load_average_at_end"] = os.getloadavg()
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(report, indent=2))

    try:
        if args.pool:
            if args.models:  # written after each model: a cut-short run keeps the finished ones
                report["throughput"] = {}
                throughput_models(args, workdir, cores, report["throughput"], save)
            else:
                report.update(throughput(args, workdir, cores))
        if args.pass_sizes:
            report["pass_sizes"] = pass_costs(args, workdir, cores)
        if args.inference:
            report["inference"] = inference_paths(args, workdir, cores)
            save()
        report["memory"] = [memory_run(workdir, n, cores) for n in args.memory_sizes]
        for row in report["memory"]:
            print(
                f"memory {row['frames']:>8,} frames ({row['pool_gib']} GiB): driver private +"
                f"{row['driver_private_growth_mib']} MiB (peak {row['driver_private_peak_mib']}"
                f" MiB), worker private peak {row['worker_private_peak_mib']} MiB, object store"
                f" mapped {row['object_store_mapped_peak_mib']} MiB, {row['rows_per_s']:,} rows/s"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    save()
    print(f"wrote {args.results}")


def _write_throughput_pool(args: argparse.Namespace, workdir: str) -> str:
    uri = f"{workdir}/pool"
    check_free_disk(workdir, args.pool, args.length)
    start = time.perf_counter()
    write_pool(uri, args.pool, args.length, args.classes, workers=args.write_workers)
    seconds = time.perf_counter() - start
    gib = pool_bytes(args.pool, args.length) / 2**30
    print(f"wrote {args.pool:,} frames at L={args.length} ({gib:.2f} GiB) in {seconds:.1f} s")
    return uri


def _measure(args: argparse.Namespace, name: str, uri: str, cores: int) -> dict:
    """The three throughput figures of one model and their ratios (pool at ``uri``)."""
    model = _model(name, args.classes, args.length)
    device, gpus, batch = args.device, args.gpus_per_actor, args.batch
    # Ray Data's one-off start-up in the driver (and, per model, CUDA's in the actor)
    ours(model, uri, "duse", cores, limit=batch, gpus_per_actor=gpus, batch=batch)
    # The box may be shared: interleave the methods and keep each one's best repetition.
    runs = {"ceiling": [], "plain_loop": [], "ray_data": []}
    for _ in range(args.repeats):
        runs["ceiling"].append(ceiling(model, args.ceiling_batches, device, batch))
        runs["plain_loop"].append(plain_loop(model, uri, device, batch))
        runs["ray_data"].append(ours(model, uri, "duse", cores, gpus_per_actor=gpus, batch=batch))
    figures = {f"{key}_samples_per_s": max(values) for key, values in runs.items()}
    figures.update({f"{key}_all_repeats": values for key, values in runs.items()})
    figures["ray_vs_plain"] = (
        figures["ray_data_samples_per_s"] / figures["plain_loop_samples_per_s"]
    )
    figures["ray_vs_ceiling"] = figures["ray_data_samples_per_s"] / figures["ceiling_samples_per_s"]
    for key, value in figures.items():
        shown = (
            ", ".join(f"{v:,.0f}" for v in value) if isinstance(value, list) else f"{value:,.3f}"
        )
        print(f"{key:32s} {shown}")
    return figures


def start_ray(gpus_per_actor: float) -> None:
    """Ray, started once per session (not per pass); with every CUDA device declared when the
    pass's actor needs a GPU, so that it cannot wait for a GPU Ray did not detect.

    Raises:
        SystemExit: the joined cluster has fewer GPUs than the actor asks for.
    """
    import ray

    from engine._internal.ray_runtime import MIN_LOCAL_CPUS, ensure_ray

    if gpus_per_actor > 0 and not ray.is_initialized() and not os.environ.get("RAY_ADDRESS"):
        ray.init(
            address="local",
            num_cpus=max(os.cpu_count() or 1, MIN_LOCAL_CPUS),
            num_gpus=torch.cuda.device_count(),
            include_dashboard=False,
            log_to_driver=True,
        )
    ensure_ray()
    gpus = ray.cluster_resources().get("GPU", 0.0)
    if gpus < gpus_per_actor:
        raise SystemExit(f"--gpus-per-actor {gpus_per_actor:g}: the Ray cluster has {gpus:g} GPUs")


def throughput(args: argparse.Namespace, workdir: str, cores: int) -> dict:
    """The three throughput figures and their ratios (``--model``)."""
    uri = _write_throughput_pool(args, workdir)
    start_ray(args.gpus_per_actor)
    figures = _measure(args, args.model, uri, cores)
    shutil.rmtree(uri)
    return figures


def pass_costs(args: argparse.Namespace, workdir: str, cores: int) -> dict:
    """Plain loop, Ray Data and the kept actors over pools of each ``--pass-sizes`` size.

    One pool per size (the plain loop reads a whole pool), the methods interleaved and each
    one's best of ``--repeats`` kept. The fixed cost of a pass is the wall time of a pass over
    one batch after a warm-up pass (Ray Data builds its pool and pipeline again each pass; the
    actors executor starts its actors on the warm-up pass only).
    """
    model = _model(args.model, args.classes, args.length)
    start_ray(0.0)
    executors = {"ray_data": "ray", "actors": "actors"}
    tiny = f"{workdir}/one-batch"
    write_pool(tiny, args.batch, args.length, args.classes)
    fixed = {}
    for name, executor in executors.items():
        ours(model, tiny, "duse", cores, executor=executor, batch=args.batch)  # warm-up
        rates = [
            ours(model, tiny, "duse", cores, executor=executor, batch=args.batch)
            for _ in range(max(args.repeats, 3))
        ]
        fixed[name] = args.batch / max(rates)
        print(f"fixed cost of a pass, {name:8s} {fixed[name]:.2f} s (one batch, best)")
    rows = []
    for size in args.pass_sizes:
        uri = f"{workdir}/pool-{size}"
        check_free_disk(workdir, size, args.length)
        write_pool(uri, size, args.length, args.classes, workers=args.write_workers)
        runs: dict[str, list[float]] = {"plain_loop": [], **{name: [] for name in executors}}
        for _ in range(args.repeats):
            runs["plain_loop"].append(plain_loop(model, uri, args.device, args.batch))
            for name, executor in executors.items():
                runs[name].append(
                    ours(model, uri, "duse", cores, executor=executor, batch=args.batch)
                )
        shutil.rmtree(uri)
        row = {"frames": size, **{f"{k}_samples_per_s": max(v) for k, v in runs.items()}}
        for name in executors:
            row[f"{name}_vs_plain"] = row[f"{name}_samples_per_s"] / row["plain_loop_samples_per_s"]
        rows.append(row)
        print(
            f"{size:>9,} frames: plain {row['plain_loop_samples_per_s']:,.0f}/s, Ray Data "
            f"{row['ray_data_samples_per_s']:,.0f}/s ({row['ray_data_vs_plain']:.2f}x), actors "
            f"{row['actors_samples_per_s']:,.0f}/s ({row['actors_vs_plain']:.2f}x)"
        )
    return {"fixed_cost_per_pass_s": fixed, "by_size": rows}


def throughput_models(
    args: argparse.Namespace, workdir: str, cores: int, figures: dict, save: Callable[[], None]
) -> None:
    """``figures[model]`` for every ``--models`` entry over one pool; ``save()`` after each."""
    uri = _write_throughput_pool(args, workdir)
    start_ray(args.gpus_per_actor)
    for name in args.models:
        print(
            f"-- {name}, L={args.length}, {args.classes} classes, {args.pool:,} frames, "
            f"batch {args.batch}, {args.device} (Ray actor: {args.gpus_per_actor:g} GPU)"
        )
        figures[name] = _measure(args, name, uri, cores)
        save()
    shutil.rmtree(uri)


def prepared_ceiling(model: FitResult, mode: str, seconds: float, batch: int) -> float:
    """Frames/s of the forward alone through ``PreparedForward(mode)`` on one resident batch."""
    network = model.model().eval()
    forward = PreparedForward(network, mode)
    iq = torch.randn(batch, 2, model.length)
    forward.logits(iq)  # preparation and warm-up
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        forward.logits(iq)
        calls += 1
    return batch * calls / (time.perf_counter() - start)


def local_pass(model: FitResult, uri: str, mode: str, batch: int, k: int) -> tuple[float, set]:
    """Frames/s of the in-process ``score_and_select`` (DUSE margin) and the selected ids."""
    meta = read_meta(uri)
    config = ScoringConfig(executor="local", batch_size=batch, inference=mode)
    start = time.perf_counter()
    rows = score_and_select(
        model,
        uri,
        np.arange(meta.num_rows, dtype=np.int64),
        get_scorer("duse"),
        k,
        balanced=False,
        num_classes=model.num_classes,
        rng=np.random.default_rng(0),
        config=config,
    )
    return meta.num_rows / (time.perf_counter() - start), set(rows.ids.tolist())


def inference_paths(args: argparse.Namespace, workdir: str, cores: int) -> dict:
    """Each ``--inference`` path against eager, per model: forward alone and the local pass."""
    modes = list(dict.fromkeys(["eager", *args.inference]))
    peak = cpu_peak(cores)
    frames = args.inference_frames
    uri = f"{workdir}/inference-pool"
    write_pool(uri, frames, args.length, args.classes)
    k = frames // 25  # 4 %
    out = {"peak": peak, "frames": frames, "modes": modes, "models": {}}
    print(
        f"-- inference paths: {peak['cpu']}, {cores} cores x {peak['clock_ghz']} GHz x "
        f"{peak['flops_per_cycle']} FLOP/cycle = {peak['peak_gflops']} GFLOP/s fp32 peak"
    )
    for name in args.models or [args.model]:
        model = _model(name, args.classes, args.length)
        flops = forward_flops(name, args.classes, args.length)
        runs = {mode: {"forward": [], "pass": []} for mode in modes}
        picks = {}
        for _ in range(args.repeats):
            for mode in modes:
                runs[mode]["forward"].append(prepared_ceiling(model, mode, 3.0, args.batch))
                rate, picks[mode] = local_pass(model, uri, mode, args.batch, k)
                runs[mode]["pass"].append(rate)
        rows = {}
        for mode in modes:
            forward, scoring = max(runs[mode]["forward"]), max(runs[mode]["pass"])
            rows[mode] = {
                "forward_frames_per_s": forward,
                "pass_frames_per_s": scoring,
                "forward_gflops": forward * flops / 1e9,
                "forward_fraction_of_peak": forward * flops / 1e9 / peak["peak_gflops"]
                if peak["peak_gflops"]
                else None,
                "forward_vs_eager": forward / max(runs["eager"]["forward"]),
                "pass_vs_eager": scoring / max(runs["eager"]["pass"]),
                "selection_overlap_with_eager": len(picks[mode] & picks["eager"]) / k,
                "all_repeats": runs[mode],
            }
            row = rows[mode]
            print(
                f"{name:7s} L={args.length} {mode:8s} forward {forward:8,.0f}/s "
                f"({row['forward_gflops']:.1f} GFLOP/s, {row['forward_fraction_of_peak']:.1%} of "
                f"peak, x{row['forward_vs_eager']:.2f}), pass {scoring:8,.0f}/s "
                f"(x{row['pass_vs_eager']:.2f}), "
                f"selection = eager's {row['selection_overlap_with_eager']:.3f}",
                flush=True,
            )
        out["models"][name] = {"mflop_per_frame": flops / 1e6, "paths": rows}
    shutil.rmtree(uri)
    return out


if __name__ == "__main__":
    main()
