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

Prints every figure and ratio and writes benchmarks/results/scoring.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

import models
from engine.data.schema import Frames
from engine.data.store import DatasetWriter, read_meta
from engine.scoring import ScoringConfig, score_and_select
from engine.training import FitResult
from scorers import get_scorer
from scorers.uncertainty import top2_margin

RESULTS = Path(__file__).parent / "results" / "scoring.json"
BATCH = 1024
WRITE_CHUNK = 8192


def write_pool(uri: str, frames: int, length: int, classes: int, seed: int = 0) -> None:
    """A dataset of ``frames`` seeded random frames ``[2, length]`` (labels cycle over classes).

    A 64-frame random block is tiled with a per-chunk offset, so writing 4 GB stays fast.
    """
    rng = np.random.default_rng(seed)
    block = rng.standard_normal((64, 2, length)).astype(np.float32)
    names = [f"class{c}" for c in range(classes)]
    with DatasetWriter(uri, names, length, [0.0], {"benchmark": "random frames"}) as writer:
        for start in range(0, frames, WRITE_CHUNK):
            n = min(WRITE_CHUNK, frames - start)
            ids = np.arange(start, start + n, dtype=np.int64)
            iq = np.resize(block, (n, 2, length)) + np.float32(start % 97) * 1e-3
            writer.write(Frames(ids, (ids % classes).astype(np.int16), np.zeros(n, np.float32), iq))


def _model(name: str, classes: int, length: int) -> FitResult:
    torch.manual_seed(0)
    network = models.build(name, classes, length).eval()
    return FitResult(name, classes, length, network.state_dict())


def ceiling(model: FitResult, batches: int) -> float:
    """Samples/s of the forward pass alone on one resident batch."""
    network = model.model()
    iq = torch.randn(BATCH, 2, model.length)
    with torch.inference_mode():
        network(iq)
        start = time.perf_counter()
        for _ in range(batches):
            network(iq)
    return BATCH * batches / (time.perf_counter() - start)


def plain_loop(model: FitResult, uri: str) -> float:
    """Samples/s of a hand-written loop: pyarrow shards -> forward -> softmax -> margin."""
    network = model.model()
    meta = read_meta(uri)
    start, done, scores = time.perf_counter(), 0, []
    with torch.inference_mode():
        for shard in meta.shards:
            table = pq.read_table(f"{uri}/{shard.name}", columns=["id", "iq"])
            iq = table.column("iq").combine_chunks().storage.flatten().to_numpy()
            iq = iq.reshape(len(table), 2, meta.length).copy()  # writable for torch
            for first in range(0, len(iq), BATCH):
                logits = network(torch.from_numpy(iq[first : first + BATCH]))
                probs = torch.softmax(logits.double(), dim=1).numpy()
                scores.append(-top2_margin(probs))
                done += len(probs)
    seconds = time.perf_counter() - start
    assert done == meta.num_rows and sum(map(len, scores)) == done
    return done / seconds


def ours(
    model: FitResult, uri: str, scorer_name: str, threads: int, limit: int | None = None
) -> float:
    """Samples/s of ``score_and_select`` on Ray Data over the first ``limit`` ids (all: None).

    The clock includes the pass's actor start-up, not Ray's own start-up.
    """
    meta = read_meta(uri)
    ids = np.arange(min(limit or meta.num_rows, meta.num_rows), dtype=np.int64)
    config = ScoringConfig(executor="ray", batch_size=BATCH, threads_per_actor=threads)
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
    mib = 2**20
    return {
        "frames": frames,
        "pool_gib": round(frames * 8 * 1024 / 2**30, 2),
        "rows_per_s": round(rate),
        "driver_private_growth_mib": round((memory.driver_peak - memory.driver_start) / mib),
        "driver_private_peak_mib": round(memory.driver_peak / mib),
        "worker_private_peak_mib": round(max(memory.worker_private_peak.values(), default=0) / mib),
        "object_store_mapped_peak_mib": round(memory.worker_shared_peak / mib),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=200_000, help="rml2016a frames (0: skip)")
    parser.add_argument("--model", default="cnn1d")
    parser.add_argument("--ceiling-batches", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repetitions (best)")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[50_000, 500_000])
    parser.add_argument("--workdir", default=None, help="where the pools are written (temp)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    workdir = tempfile.mkdtemp(prefix="duse-bench-", dir=args.workdir)
    report = {
        "command": "python -m benchmarks.scoring " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {cores} cores, torch {torch.__version__}",
        "model": args.model,
        "pool": args.pool,
        "load_average_at_start": os.getloadavg(),
    }
    try:
        if args.pool:
            report.update(throughput(args, workdir, cores))
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
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


def throughput(args: argparse.Namespace, workdir: str, cores: int) -> dict:
    """The three throughput figures and their ratios."""
    from engine._internal.ray_runtime import ensure_ray

    uri = f"{workdir}/pool"
    write_pool(uri, args.pool, 128, 11)
    model = _model(args.model, 11, 128)
    ensure_ray()  # start-up is paid once per session, not per pass
    ours(model, uri, "duse", cores, limit=BATCH)  # Ray Data's one-off start-up in the driver
    # The box may be shared: interleave the methods and keep each one's best repetition.
    runs = {"ceiling": [], "plain_loop": [], "ray_data": []}
    for _ in range(args.repeats):
        runs["ceiling"].append(ceiling(model, args.ceiling_batches))
        runs["plain_loop"].append(plain_loop(model, uri))
        runs["ray_data"].append(ours(model, uri, "duse", cores))
    figures = {f"{name}_samples_per_s": max(values) for name, values in runs.items()}
    figures.update({f"{name}_all_repeats": values for name, values in runs.items()})
    figures["ray_vs_plain"] = (
        figures["ray_data_samples_per_s"] / figures["plain_loop_samples_per_s"]
    )
    figures["ray_vs_ceiling"] = figures["ray_data_samples_per_s"] / figures["ceiling_samples_per_s"]
    for key, value in figures.items():
        shown = (
            ", ".join(f"{v:,.0f}" for v in value) if isinstance(value, list) else f"{value:,.3f}"
        )
        print(f"{key:32s} {shown}")
    shutil.rmtree(uri)
    return figures


if __name__ == "__main__":
    main()
