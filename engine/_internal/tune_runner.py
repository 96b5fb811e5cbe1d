"""One way to run a Ray Tune grid: condensed progress, trial logs on the driver, failures
collected and returned (never raised mid-grid).

Used by the benchmark grid (``engine.benchmark.grid``) and the SigZSLNet grid and search
(``engine.zsl.tune``). Each caller decides what a failed trial means for its user.

Progress: Ray 2.60's default output engine (``RAY_AIR_NEW_OUTPUT=1``) ignores
``RunConfig(progress_reporter=...)`` (a ``CLIReporter`` needs the legacy engine) and its
``verbose=1`` heartbeat prints a table of every trial; so Tune runs at ``verbose=0`` (it still
prints its short experiment banner once) and :class:`_Progress`, a ``tune.Callback``, logs one
line per trial start, end and failure, and a one-line status (done / running / failed /
pending, elapsed) at most every 30 s, through ``duse`` logging. (Making the callback Tune's
reporter instead, a ``ray.tune.experimental.output.ProgressReporter`` subclass, leaves Tune's
own reporter without a start time: it crashes on the first failed trial.)

Inside each trial, logging is configured like the driver's
(:func:`engine._internal.logs.configure_logging`, tagged with the trial's label), and the local
Ray forwards worker output to the driver (``log_to_driver=True`` in
:func:`engine._internal.ray_runtime.ensure_ray`), so a cell's ``round i/n done`` lines reach the
console and ``ray job logs``.

Importing this module imports Ray Tune: import it inside the functions that run a grid.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray import tune

from engine._internal.logs import configure_logging, current_verbosity

__all__ = ["TrialFailure", "TuneOutcome", "run_trials"]

log = logging.getLogger(f"duse.{__name__}")

Label = Callable[[dict[str, Any]], str]
_STATUS_EVERY_S = 30.0


@dataclass(frozen=True)
class TrialFailure:
    """A trial that failed (after its retries).

    Attributes:
        config: the trial's resolved parameters.
        error: the last line of its error (``Type: message``).
    """

    config: dict[str, Any]
    error: str


@dataclass(frozen=True)
class TuneOutcome:
    """What :func:`run_trials` ran.

    Attributes:
        grid: Tune's ``ResultGrid`` (e.g. for ``get_best_result``).
        finished: the ``Result`` of every trial that succeeded.
        failures: every trial that failed, with its one-line error.
    """

    grid: Any
    finished: list[Any]
    failures: list[TrialFailure]


def _one_line(error: BaseException | str | None) -> str:
    """The last non-empty line of an error's text (Tune wraps trial errors in tracebacks)."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__


def _trial_name(config: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(config.items()) if key != "config")


def _logged(
    body: Callable[..., Any], verbosity: int | None, label: Label, cpus: float
) -> Callable[..., Any]:
    """``body`` behind this process's logging setup and ``cpus`` torch threads, applied in the
    trial's worker process."""

    def trial(config: dict[str, Any], **parameters: Any) -> Any:
        import torch

        torch.set_num_threads(max(1, int(cpus)))
        if verbosity is not None:
            configure_logging(verbosity, tag=label(config))
        return body(config, **parameters)

    trial.__name__ = trial.__qualname__ = body.__name__  # Tune names trials after it
    return trial


class _Progress(tune.Callback):
    """Condensed grid progress: a line per trial start, end and failure, and a status line
    (done / running / failed / pending, elapsed) at most every 30 s and at the end."""

    def __init__(self, name: str, label: Label, every_s: float = _STATUS_EVERY_S) -> None:
        self.name = name
        self.label = label
        self.every_s = every_s

    def setup(self, total_num_samples: int | None = None, **info: Any) -> None:
        self.total = total_num_samples or 0
        self.start = self.last = time.monotonic()

    def status(self, trials: list[Any]) -> str:
        """``NAME: 3/12 done, 2 running, 1 failed, 6 pending; 00:12:30 elapsed``."""
        counts = Counter(trial.status for trial in trials)
        total = max(len(trials), self.total)
        pending = total - len(trials) + counts["PENDING"] + counts["PAUSED"]
        elapsed = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - self.start))
        return (
            f"{self.name}: {counts['TERMINATED']}/{total} done, {counts['RUNNING']} running, "
            f"{counts['ERROR']} failed, {pending} pending; {elapsed} elapsed"
        )

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            log.info("%s", self.status(trials))

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        log.info("%s: started %s", self.name, self.label(trial.config))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        log.info("%s: finished %s", self.name, self.label(trial.config))

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        log.warning("%s: %s failed; retrying it", self.name, self.label(trial.config))

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        # The error itself comes back with the results (TuneOutcome.failures).
        log.warning("%s: %s failed (%s)", self.name, self.label(trial.config), trial.error_file)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        log.info("%s", self.status(trials))


def run_trials(
    body: Callable[..., Any],
    param_space: dict[str, Any],
    *,
    name: str,
    storage_path: str,
    cpus_per_trial: float,
    max_concurrent_trials: int,
    parameters: dict[str, Any] | None = None,
    label: Label = _trial_name,
    reuse_actors: bool = False,
    max_failures: int = 0,
    **tune_config: Any,
) -> TuneOutcome:
    """Run ``body`` once per trial of ``param_space``; collect, never raise, trial failures.

    Args:
        body: the trainable, ``body(config, **parameters)``; it reports with ``tune.report``.
        param_space: Tune's parameter space (``tune.grid_search``, ``tune.choice``, ...).
        name: the experiment's name (its directory under ``storage_path``; progress lines).
        storage_path: absolute directory of Tune's results.
        cpus_per_trial: logical CPUs each trial reserves.
        max_concurrent_trials: trials running at once.
        parameters: large constant arguments of ``body``, put in the object store once
            (``tune.with_parameters``).
        label: names a trial's config in progress and log lines.
        reuse_actors: reuse trial processes across trials.
        max_failures: retries of a failed trial.
        **tune_config: more ``tune.TuneConfig`` fields (``num_samples``, ``metric``, ``mode``).

    Returns:
        The grid, the finished results and the failures.
    """
    import ray

    from engine._internal.ray_runtime import ensure_ray

    ensure_ray()
    log.info("ray tune %s on %s", name, ray.cluster_resources())
    trainable = _logged(body, current_verbosity(), label, cpus_per_trial)
    if parameters:
        trainable = tune.with_parameters(trainable, **parameters)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"CPU": cpus_per_trial}),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent_trials, reuse_actors=reuse_actors, **tune_config
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_path,
            failure_config=tune.FailureConfig(max_failures=max_failures),
            callbacks=[_Progress(name, label)],
            verbose=0,
        ),
    )
    grid = tuner.fit()
    results = list(grid)
    finished = [result for result in results if result.error is None]
    failures = [
        TrialFailure(result.config, _one_line(result.error))
        for result in results
        if result.error is not None
    ]
    return TuneOutcome(grid, finished, failures)
