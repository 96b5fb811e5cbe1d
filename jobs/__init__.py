"""Ray job entrypoints: ``python -m jobs.NAME ARGS`` is ``duse NAME ARGS`` (one parser).

Each runs locally or as a Ray job (``duse submit -- NAME --config FILE [--set K=V ...]``, or
``ray job submit --working-dir . -- python -m jobs.NAME --config FILE``); the exit status is the
CLI's: 0 done, 1 failed cells (benchmark), 2 a bad config or input, 130 interrupted.

- ``jobs.expand``: an expansion run (``duse expand``, :func:`engine.expansion.expand`).
- ``jobs.benchmark``: the benchmark grid (``duse benchmark``, :mod:`engine.benchmark`).
- ``jobs.generate``: a synthetic dataset (``duse data generate``).
- ``jobs.zsl``: SigZSLNet groups x seeds (``duse zsl``, ``--tune``: Tune trials).

Configs live in ``jobs/configs/``; docs/cluster.md is the guide.
"""

__all__: list[str] = []
