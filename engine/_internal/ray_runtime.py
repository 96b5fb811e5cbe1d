"""Start or join Ray once per process, with settings that work on a 2-core laptop."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

# Ray Data's read tasks hang when actors hold every CPU (reference/ray.md 0.2): a local
# instance declares at least this many logical CPUs so read tasks always find a slot.
MIN_LOCAL_CPUS = 4


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
        ray.init(address=address, log_to_driver=False)
        return
    cpus = num_cpus or max(os.cpu_count() or 1, MIN_LOCAL_CPUS)
    log.info("starting local Ray with %d logical CPUs", cpus)
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
