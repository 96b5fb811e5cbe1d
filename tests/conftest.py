"""Shared fixtures: one local Ray for the whole run, tiny synthetic datasets."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DATA_EXECUTION_NO_PROGRESS_TIMEOUT_S", "60")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.pop("RAY_ADDRESS", None)  # tests never join a cluster by accident


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray with more logical CPUs than actors need (reference/ray.md 0.2)."""
    import ray

    temp_dir = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: unix socket paths
    ray.init(
        address="local",
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=temp_dir,
    )
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


def make_frames(n: int, length: int = 16, num_classes: int = 3, seed: int = 0, start: int = 0):
    """Random frames with ids ``start..start+n-1``, labels cycling over the classes."""
    from engine.data.schema import Frames

    rng = np.random.default_rng(seed)
    return Frames(
        ids=np.arange(start, start + n, dtype=np.int64),
        labels=(np.arange(n) % num_classes).astype(np.int16),
        snr_db=rng.choice([-10.0, 0.0, 10.0], n).astype(np.float32),
        iq=rng.standard_normal((n, 2, length)).astype(np.float32),
    )
