"""Thin Ray job entrypoints: parse a YAML config, call one engine function, exit.

Each runs as ``python -m jobs.<name> --config FILE [--out URI] [--set KEY=VALUE]``, locally or
as a Ray job (``duse submit -- <name> --config FILE``, or ``ray job submit --working-dir . --
python -m jobs.<name> --config FILE``); the exit status is 0 on success and 2 for a bad config.

- ``jobs.expand``: an expansion run (:func:`engine.expansion.expand`).
- ``jobs.generate``: a synthetic dataset (:func:`engine.data.generate.generate`).
- ``jobs.zsl``: SigZSLNet groups x seeds (:func:`engine.zsl.run_zsl`, ``--tune``: Tune trials).

Configs live in ``jobs/configs/``; docs/cluster.md is the guide.
"""

__all__: list[str] = []
