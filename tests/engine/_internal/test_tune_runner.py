"""The one Tune runner: failed trials come back with their one-line error (never raised
mid-grid), and each trial logs through ``duse`` loggers configured like the driver's."""

from __future__ import annotations

import glob
import logging
import os
import uuid
from types import SimpleNamespace

import pytest

from engine._internal.logs import configure_logging


def _trial_body(token: str):
    """Fails for ``x == 2``; otherwise logs ``token`` at INFO and reports what the trial saw.

    Defined in a function so cloudpickle ships it by value to the trial processes.
    """

    def body(config):

        from ray import tune

        from engine._internal.logs import _DuseHandler

        if config["x"] == 2:
            raise ValueError("x=2 is a bad setting")
        log = logging.getLogger("duse.engine.expansion.loop")
        log.info("%s round 1/1 done (x=%d)", token, config["x"])
        handlers = [h for h in logging.getLogger().handlers if isinstance(h, _DuseHandler)]
        tune.report(
            {
                "y": 10 * config["x"],
                "info_enabled": log.isEnabledFor(logging.INFO),
                "handlers": len(handlers),
                "pid": os.getpid(),
            }
        )

    return body


def test_failed_trials_are_returned_and_trials_log_like_the_driver(
    ray_session, tmp_path, restore_logging
):
    from ray import tune

    from engine._internal.tune_runner import TrialFailure, run_trials

    configure_logging(0)
    token = f"token-{uuid.uuid4().hex}"
    outcome = run_trials(
        _trial_body(token),
        {"x": tune.grid_search([1, 2, 3])},
        name="runner-test",
        storage_path=str(tmp_path / "tune"),
        cpus_per_trial=0.5,
        max_concurrent_trials=2,
    )
    assert [failure.config for failure in outcome.failures] == [{"x": 2}]
    (failure,) = outcome.failures
    assert isinstance(failure, TrialFailure) and "\n" not in failure.error
    assert failure.error.endswith("ValueError: x=2 is a bad setting")
    metrics = sorted((r.metrics for r in outcome.finished), key=lambda m: m["y"])
    assert [m["y"] for m in metrics] == [10, 30]
    assert all(m["info_enabled"] and m["handlers"] == 1 for m in metrics)
    # the lines went to the trial process's stderr, the stream Ray forwards to the driver
    session = ray_session._private.worker._global_node.get_session_dir_path()
    written = ""
    for path in glob.glob(os.path.join(session, "logs", "worker-*.err")):
        with open(path, errors="replace") as handle:
            written += handle.read()
    for x in (1, 3):
        assert f"[x={x}] duse.engine.expansion.loop: {token} round 1/1 done (x={x})" in written


def _always_fails():
    """A trainable that fails for every seed (shipped by value, as :func:`_trial_body`)."""

    def body(params):
        raise RuntimeError(f"seed {params['seed']} broke")

    return body


def test_zsl_grid_raises_after_the_grid_with_every_failure(ray_session, tmp_path):
    from ray import tune

    from engine.zsl.tune import _run_tuner

    config = SimpleNamespace(
        out=str(tmp_path), tune=SimpleNamespace(cpus_per_trial=0.5, max_concurrent_trials=2)
    )
    space = {"group": 1, "seed": tune.grid_search([0, 1])}
    with pytest.raises(RuntimeError, match=r"2 Tune trial\(s\) of zsl-test failed") as caught:
        _run_tuner(_always_fails(), space, config, "zsl-test")
    message = str(caught.value)
    assert "group 1 seed 0: RuntimeError: seed 0 broke" in message
    assert "group 1 seed 1: RuntimeError: seed 1 broke" in message
