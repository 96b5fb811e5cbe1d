"""Executor ``"actors"``: scoring actors that outlive the pass.

Ray Data's ``map_batches`` builds its actor pool and its pipeline for every pass: seconds of
fixed cost that every DUSE round and every benchmark cell pays again (10.7 s per pass on the
2-core box, 0.15 s with these actors: ``benchmarks/scoring.py --pass-sizes``). These actors
are started once per process and kept:

* a pass puts the model weights and the scorer in the object store once (``ray.put``) and hands
  the actors references; an actor rebuilds its :class:`engine.scoring.PoolWorker` only when
  the reference is new (once per pass, or after Ray restarted it);
* the wanted ids are cut into pieces, each inside one shard and at most ``piece_rows`` long;
  an actor reads only its piece's row groups (:func:`engine.data.store.iter_frames`) and
  returns the piece's slim rows, so nothing pool-sized crosses the object store;
* two pieces wait at each actor, so it never idles while its last result travels back.

A killed actor is restarted by Ray and its pieces rerun (``max_restarts=-1``,
``max_task_retries=-1``); the caller's pass monitor still checks every id came back once.
The actors hold their CPUs between passes; :func:`close_scoring_actors` gives them back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.data.store import read_meta

__all__ = ["close_scoring_actors", "pieces", "run_on_actors"]

PIECES_IN_FLIGHT = 2  # per actor


def pieces(data_uri: str, wanted: np.ndarray, piece_rows: int) -> list[np.ndarray]:
    """The sorted ``wanted`` ids cut at shard boundaries and every ``piece_rows`` ids."""
    out = []
    for shard in read_meta(data_uri).shards:
        lo, hi = np.searchsorted(wanted, [shard.id_min, shard.id_max + 1])
        out += [wanted[start : min(start + piece_rows, hi)] for start in range(lo, hi, piece_rows)]
    return out


class _ScoringActor:
    """One model copy; scores the pieces it is handed (a Ray actor, see :func:`_actor_class`)."""

    def __init__(self, threads: int, log_verbosity: int | None) -> None:
        import torch

        from engine._internal.logs import configure_logging

        if log_verbosity is not None:  # None: the driver never configured logging
            configure_logging(log_verbosity)
        torch.set_num_threads(threads)
        self.pass_key: str | None = None
        self.worker: Any = None

    def score(
        self, task: list, data_uri: str, ids: np.ndarray, batch_size: int
    ) -> dict[str, np.ndarray]:
        """The slim rows of the pool ids ``ids`` (``task``: ``[ObjectRef]`` of the pass)."""
        import ray

        from engine.scoring import PoolWorker, _local_batches, _merge

        (reference,) = task  # in a list, so Ray hands over the reference, not the value
        if reference.hex() != self.pass_key:
            self.worker = PoolWorker(**ray.get(reference), wanted=np.zeros(0, np.int64))
            self.pass_key = reference.hex()
        self.worker.wanted = ids
        parts = [self.worker(batch) for batch in _local_batches(data_uri, ids, batch_size)]
        return _merge(parts) if parts else {}

    def ready(self) -> bool:
        return True


@dataclass
class _Actors:
    key: tuple
    handles: list


_ACTORS: _Actors | None = None


def _actor_class():
    import ray

    return ray.remote(max_restarts=-1, max_task_retries=-1)(_ScoringActor)


def _alive(actors: _Actors) -> bool:
    import ray

    try:
        ray.get([handle.ready.remote() for handle in actors.handles], timeout=60)
    except Exception:  # a dead or foreign cluster's handle: start new actors
        return False
    return True


def _actor_handles(
    count: int, cpus: float, gpus: float, threads: int, verbosity: int | None
) -> list:
    """This process's scoring actors, started on first use or when the settings change."""
    global _ACTORS
    key = (count, cpus, gpus, threads, verbosity)
    if _ACTORS is not None and _ACTORS.key == key and _alive(_ACTORS):
        return _ACTORS.handles
    close_scoring_actors()
    remote = _actor_class().options(num_cpus=cpus, num_gpus=gpus or None)
    _ACTORS = _Actors(key, [remote.remote(threads, verbosity) for _ in range(count)])
    return _ACTORS.handles


def close_scoring_actors() -> None:
    """Stop this process's scoring actors (their CPUs and GPUs go back to the cluster)."""
    global _ACTORS
    if _ACTORS is None:
        return
    import ray

    if ray.is_initialized():
        for handle in _ACTORS.handles:
            ray.kill(handle)
    _ACTORS = None


def run_on_actors(
    data_uri: str,
    worker_kwargs: dict[str, Any],
    *,
    actors: int,
    cpus: float,
    gpus: float,
    threads: int,
    verbosity: int | None,
    batch_size: int,
    piece_rows: int,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield the worker's rows piece by piece, as the actors finish them (in no fixed order).

    Args:
        data_uri: the dataset holding the pool.
        worker_kwargs: :class:`engine.scoring.PoolWorker` arguments (``wanted``: sorted ids).
        actors, cpus, gpus, threads: pool size and each actor's reservation and torch threads.
        verbosity: the driver's log verbosity, for the actors.
        batch_size: frames per model call.
        piece_rows: most ids per piece.
    """
    import ray

    handles = _actor_handles(actors, cpus, gpus, threads, verbosity)
    device = "cuda" if gpus > 0 else "cpu"
    options = {key: value for key, value in worker_kwargs.items() if key != "wanted"}
    task = [ray.put({**options, "device": device})]  # held until the pass ends
    queue = iter(pieces(data_uri, worker_kwargs["wanted"], piece_rows))
    pending: dict[Any, Any] = {}

    def submit(handle) -> None:
        piece = next(queue, None)
        if piece is not None:
            pending[handle.score.remote(task, data_uri, piece, batch_size)] = handle

    for handle in handles:
        for _ in range(PIECES_IN_FLIGHT):
            submit(handle)
    while pending:
        (done,), _ = ray.wait(list(pending), num_returns=1)
        submit(pending.pop(done))
        rows = ray.get(done)
        if rows:  # a piece whose ids are not stored gives nothing; the monitor counts them
            yield rows
