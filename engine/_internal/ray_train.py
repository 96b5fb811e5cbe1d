"""One training loop run on Ray Train workers: ``TorchTrainer``, shared arrays, the result back.

The classifier (:func:`engine.training.fit`) and the WGAN-GP (:func:`engine.zsl.gan.train_gan`)
both write one per-worker loop, ``train(job, rank, world, wrap, report)``, that returns the
unwrapped model and its per-epoch history. In-process it runs with ``wrap`` and ``report`` doing
nothing; :func:`run_on_ray_train` runs it on ``workers`` Ray Train workers with
``ray.train.torch.prepare_model`` (DDP) and ``ray.train.report``. Large arrays travel once
through the object store; rank 0 sends the final weights and history back as a checkpoint.

Ray Train writes that checkpoint (and its run state) under its ``storage_path`` from whichever
node runs rank 0, and the driver reads it back, so on a cluster of several nodes the storage
must be one every node reaches: ``DUSE_RAY_STORAGE``
(:func:`engine._internal.ray_runtime.shared_storage`: a shared directory, or a URI such as
``s3://bucket/scratch``); each run gets its own directory there, removed once its result is
read. Unset, a temporary directory on the driver is used, which is right when the driver's node
is the only one (a warning says so otherwise).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

import fsspec
import torch

__all__ = ["TrainLoop", "run_on_ray_train", "run_storage"]

log = logging.getLogger(f"duse.{__name__}")

# train(job, rank, world, wrap, report) -> (unwrapped model, history)
TrainLoop = Callable[
    [dict[str, Any], int, int, Callable, Callable], tuple[torch.nn.Module, list[dict[str, float]]]
]

_RESULT_FILE = "result.pt"


def _worker_loop(loop_config: dict[str, Any]) -> None:
    """``TorchTrainer``'s per-worker function: the loop with DDP, reports and a checkpoint."""
    import ray
    import ray.train
    import ray.train.torch

    torch.set_num_threads(max(1, int(loop_config["cpus_per_worker"])))
    job = {**loop_config["job"], **ray.get(loop_config["shared"])}
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    model, history = loop_config["train"](
        job, rank, world, ray.train.torch.prepare_model, ray.train.report
    )
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = None
        if rank == 0:
            torch.save(
                {"state_dict": model.state_dict(), "history": history},
                os.path.join(directory, _RESULT_FILE),
            )
            checkpoint = ray.train.Checkpoint.from_directory(directory)
        ray.train.report({"epoch": len(history), "done": 1}, checkpoint=checkpoint)


def run_storage(name: str) -> tuple[str, str, str]:
    """Where one Ray Train run keeps its files: ``(storage_path, run name, run directory)``.

    With ``DUSE_RAY_STORAGE`` set, ``<storage>/duse-<name>-<12 hex>`` (a unique run name, since
    runs of several trials and drivers share the storage); else a new temporary directory on
    this machine, with ``name`` as the run name. The run directory is what to remove afterwards.
    """
    from engine._internal.ray_runtime import STORAGE_ENV, alive_nodes, shared_storage

    storage = shared_storage()
    if storage is None:
        if alive_nodes() > 1:
            log.warning(
                "ray train %s: %s is not set, so its checkpoint goes to a temporary directory on "
                "the driver, which other nodes cannot reach; set it to a path every node mounts "
                "or to an s3:// / gs:// URI (docs/cluster.md)",
                name,
                STORAGE_ENV,
            )
        local = tempfile.mkdtemp(prefix=f"duse-{name}-")
        return local, name, local
    run = f"duse-{name}-{uuid.uuid4().hex[:12]}"
    return storage, run, f"{storage.rstrip('/')}/{run}"


def _remove_run(directory: str) -> None:
    """Delete a run directory (a local path or a URI); a missing one is fine."""
    fs, path = fsspec.core.url_to_fs(directory)
    with contextlib.suppress(FileNotFoundError):
        fs.rm(path, recursive=True)


def run_on_ray_train(
    train: TrainLoop,
    job: dict[str, Any],
    shared: dict[str, Any],
    *,
    name: str,
    workers: int,
    cpus_per_worker: float,
    use_gpu: bool = False,
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    """Run ``train`` on ``workers`` Ray Train workers and return rank 0's result.

    Joins the cluster or starts a local Ray (:func:`engine._internal.ray_runtime.ensure_ray`).
    Run files go to a run directory of their own on the shared storage (:func:`run_storage`),
    removed afterwards.

    Args:
        train: the per-worker loop, a module-level function (it is pickled to the workers).
        job: the small, picklable settings every worker gets.
        shared: large values (arrays, frames), put once into the object store; each worker
            sees them merged into ``job``.
        name: the Ray Train run's name (``fit``, ``wgan-gp``).
        workers: Ray Train workers (>= 1).
        cpus_per_worker: CPUs per worker, also its torch threads.
        use_gpu: one GPU per worker.

    Returns:
        ``(state_dict, history)`` of rank 0's unwrapped model.

    Raises:
        Exception: the error a worker raised (Ray Train's result error, re-raised).
    """
    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    from engine._internal.ray_runtime import ensure_ray

    ensure_ray()
    loop_config = {
        "train": train,
        "job": job,
        "shared": ray.put(shared),
        "cpus_per_worker": cpus_per_worker,
    }
    storage, run, directory = run_storage(name)
    log.debug("ray train %s: run files in %s", name, directory)
    try:
        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config=loop_config,
            scaling_config=ray.train.ScalingConfig(
                num_workers=workers,
                use_gpu=use_gpu,
                resources_per_worker={"CPU": cpus_per_worker},
            ),
            run_config=ray.train.RunConfig(storage_path=storage, name=run),
        )
        result = trainer.fit()
        if result.error:
            raise result.error
        with result.checkpoint.as_directory() as local:
            body = torch.load(os.path.join(local, _RESULT_FILE), weights_only=True)
    finally:
        _remove_run(directory)
    return body["state_dict"], body["history"]
