"""One training loop run on Ray Train workers: ``TorchTrainer``, shared arrays, the result back.

The classifier (:func:`engine.training.fit`) and the WGAN-GP (:func:`engine.zsl.gan.train_gan`)
both write one per-worker loop, ``train(job, rank, world, wrap, report)``, that returns the
unwrapped model and its per-epoch history. In-process it runs with ``wrap`` and ``report`` doing
nothing; :func:`run_on_ray_train` runs it on ``workers`` Ray Train workers with
``ray.train.torch.prepare_model`` (DDP) and ``ray.train.report``. Large arrays travel once
through the object store; rank 0 sends the final weights and history back as a checkpoint.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["TrainLoop", "run_on_ray_train"]

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
    Run files go to a temporary directory, removed afterwards.

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
    storage = tempfile.mkdtemp(prefix=f"duse-{name}-")
    try:
        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config=loop_config,
            scaling_config=ray.train.ScalingConfig(
                num_workers=workers,
                use_gpu=use_gpu,
                resources_per_worker={"CPU": cpus_per_worker},
            ),
            run_config=ray.train.RunConfig(storage_path=storage, name=name),
        )
        result = trainer.fit()
        if result.error:
            raise result.error
        with result.checkpoint.as_directory() as directory:
            body = torch.load(os.path.join(directory, _RESULT_FILE), weights_only=True)
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    return body["state_dict"], body["history"]
