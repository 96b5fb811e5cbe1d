"""Start or join Ray once per process, with settings that work on a 2-core laptop.

Worker output reaches the driver (``log_to_driver=True``): Tune trials and Ray Data actors log
through ``duse`` loggers configured like the driver's (``engine._internal.logs``), and their
lines are what ``ray job logs`` shows.

On a cluster of several nodes, whatever one node writes and another reads must be on storage
every node reaches. The jobs' outputs (``out``, and Tune's ``storage_path`` under it) say where
themselves; Ray Train's run files, which no config names, go to :func:`shared_storage`
(``DUSE_RAY_STORAGE``). docs/cluster.md says how to set it on each kind of cluster.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

log = logging.getLogger(f"duse.{__name__}")

# Ray Data's read tasks hang when actors hold every CPU (reference/ray.md 0.2): a local
# instance declares at least this many logical CPUs so read tasks always find a slot.
MIN_LOCAL_CPUS = 4
# A directory or URI that every node of the cluster reads and writes at the same name (an NFS,
# EFS or Filestore mount, s3://, gs://): where Ray Train keeps its run files and checkpoints.
STORAGE_ENV = "DUSE_RAY_STORAGE"


def shared_storage() -> str | None:
    """The cluster's shared storage, ``$DUSE_RAY_STORAGE``; None when unset or empty."""
    return os.environ.get(STORAGE_ENV, "").strip() or None


def alive_nodes() -> int:
    """How many nodes the joined (or started) Ray cluster has alive."""
    import ray

    return sum(1 for node in ray.nodes() if node.get("Alive"))


def ensure_ray(num_cpus: int | None = None) -> None:
    """Join the cluster named by ``RAY_ADDRESS``, or start a local instance, unless running.

    Args:
        num_cpus: logical CPUs of a local instance (default: max(cores, 4)); ignored when
            joining a cluster.
    """
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS")
    if address:
        log.info("joining Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=True)
        return
    cpus = num_cpus or max(os.cpu_count() or 1, MIN_LOCAL_CPUS)
    log.info("starting local Ray with %d logical CPUs", cpus)
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=True)


def condense_data_progress(context: Any) -> None:
    """Ray Data's console output for one pass, condensed: one bar on a terminal, none elsewhere.

    Off a terminal (a Tune trial, ``ray job logs``, a redirected ``duse``) Ray Data would log a
    multi-line block every 10 s; there the pass's own lines (``engine.scoring``: rows so far and
    rows per second) are the progress. The execution-plan banner is dropped everywhere.

    Args:
        context: the ``ray.data.DataContext`` of the dataset about to run (``dataset.context``).
    """
    from ray.util.debug import log_once

    context.print_on_execution_start = False
    context.enable_operator_progress_bars = False  # the global bar only, not one per operator
    # Ray Data logs a one-time hint for each of these switches; they are off on purpose here.
    log_once("ray_data_progress_manager_global")
    if not sys.stdout.isatty():
        context.enable_progress_bars = False
        log_once("ray_data_progress_manager_disabled")
