"""Ray Tune for SigZSLNet: the groups x seeds grid as trials, and a settings search that selects
on a validation split of the seen classes (never the test set).

Each trial runs :func:`engine.zsl.pipeline.run_group` in its own Tune worker process
(``tune.cpus_per_trial`` CPUs) and reports S, U, H and accuracy through ``tune.report``.

Search protocol: within a group's seen classes, ``tune.holdout_classes`` classes (seeded draw)
play the unseen role; the group's seen *training* frames are split again per (class, SNR) into
train' and validation; every stage trains on train' of the remaining seen classes only, and
the trial's score is H on the validation frames. The group's unseen classes and test frames are
never read.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from engine._internal.atomic import write_json
from engine.data.store import read_meta
from engine.zsl.config import ZslConfig, resolve_group
from engine.zsl.pipeline import ensure_data, run_group, validation_task, write_summary

__all__ = ["search_settings", "tune_groups", "validation_task"]

log = logging.getLogger(f"duse.{__name__}")

_HEADLINE = ("seen_accuracy", "unseen_accuracy", "harmonic_mean", "accuracy")


def _headline(results: dict[str, Any]) -> dict[str, float]:
    return {name: results["sigzslnet"][name] for name in _HEADLINE}


def _group_trial(params: dict[str, Any]) -> None:
    """Tune trainable: one (group, seed) run of the full pipeline."""
    from ray import tune

    config = ZslConfig.from_dict(params["config"])
    group = resolve_group(params["group"], read_meta(config.data).classes)
    out_dir = os.path.join(config.out, group.name, f"seed{params['seed']}")
    figures = config.figures and params["seed"] == config.seeds[0]
    results = run_group(config, group, params["seed"], out_dir=out_dir, figures=figures)
    tune.report({**_headline(results), "results": os.path.join(out_dir, "results.json")})


def _search_trial(params: dict[str, Any]) -> None:
    """Tune trainable: one setting evaluated on the validation task."""
    from ray import tune

    overrides = {key: params[key] for key in params["space_keys"]}
    config = ZslConfig.from_dict(params["config"]).replace(**overrides, figures=False)
    if config.classifier.calibration == "validation":  # the trial already is the validation task
        config = config.replace(**{"classifier.calibration": 0.0})
    group = resolve_group(params["group"], read_meta(config.data).classes)
    pseudo, train_ids, validation_ids = validation_task(config, group)
    results = run_group(
        config, pseudo, params["seed"], train_ids=train_ids, test_ids=validation_ids
    )
    tune.report({f"val_{k}": v for k, v in _headline(results).items()})


def _trial_label(params: dict[str, Any]) -> str:
    """A trial as progress lines name it: its group and seed, and a search's settings."""
    settings = " ".join(f"{key}={params[key]}" for key in params.get("space_keys", ()))
    return " ".join(filter(None, (f"group {params['group']} seed {params['seed']}", settings)))


def _run_tuner(trainable, param_space: dict[str, Any], config: ZslConfig, name: str, **tune_config):
    """Run the trials; every one must succeed.

    Raises:
        RuntimeError: after the whole grid ran, when trials failed (each listed with its error).
    """
    from engine._internal.tune_runner import run_trials

    outcome = run_trials(
        trainable,
        param_space,
        name=name,
        storage_path=os.path.abspath(os.path.join(config.out, "tune")),
        cpus_per_trial=config.tune.cpus_per_trial,
        max_concurrent_trials=config.tune.max_concurrent_trials,
        label=_trial_label,
        **tune_config,
    )
    if outcome.failures:
        listed = "\n".join(
            f"  {_trial_label(failure.config)}: {failure.error}" for failure in outcome.failures
        )
        raise RuntimeError(f"{len(outcome.failures)} Tune trial(s) of {name} failed:\n{listed}")
    return outcome.grid


def tune_groups(config: ZslConfig) -> dict[str, Any]:
    """Every group x seed of ``config`` as Ray Tune trials; writes the same outputs as
    :func:`engine.zsl.pipeline.run_zsl` and returns the same summary."""
    import json

    from ray import tune

    ensure_data(config)
    classes = read_meta(config.data).classes
    for spec in config.groups:
        resolve_group(spec, classes)  # fail before starting trials
    space = {
        "config": {**config.to_dict(), "out": os.path.abspath(config.out)},
        "group": tune.grid_search(list(config.groups)),
        "seed": tune.grid_search(list(config.seeds)),
    }
    grid = _run_tuner(_group_trial, space, config, "zsl-groups")
    runs = []
    for result in grid:
        with open(result.metrics["results"]) as handle:
            runs.append(json.load(handle))
    order = {json.dumps(spec): n for n, spec in enumerate(config.groups)}
    runs.sort(key=lambda r: (order.get(json.dumps(_spec_of(r, config)), 0), r["seed"]))
    return write_summary(config, runs)


def _spec_of(run: dict[str, Any], config: ZslConfig) -> Any:
    for spec in config.groups:
        name = f"group{spec}" if isinstance(spec, int) else spec.get("name")
        if name == run["group"]["name"]:
            return spec
    return None


def search_settings(config: ZslConfig, group: int | dict[str, Any] = 1) -> dict[str, Any]:
    """Ray Tune search over ``config.tune.space`` for ``group``, selected on validation H.

    Draws ``tune.num_samples`` settings (``tune.choice`` per key), runs each on the validation
    task (:func:`validation_task`) with the first seed, and writes ``<out>/search.json``.

    Returns:
        ``{"best": {key: value}, "best_val": metrics, "trials": [{settings, metrics}]}``.
    """

    from ray import tune

    ensure_data(config)
    validation_task(config, resolve_group(group, read_meta(config.data).classes))  # fail early
    keys = sorted(config.tune.space)
    space = {
        "config": {**config.to_dict(), "out": os.path.abspath(config.out)},
        "group": group,
        "seed": config.seeds[0],
        "space_keys": keys,
        **{key: tune.choice(config.tune.space[key]) for key in keys},
    }
    grid = _run_tuner(
        _search_trial,
        space,
        config,
        "zsl-search",
        num_samples=config.tune.num_samples,
        metric="val_harmonic_mean",
        mode="max",
    )
    best = grid.get_best_result()
    trials = [
        {
            "settings": {k: r.config[k] for k in keys},
            "metrics": {k: v for k, v in r.metrics.items() if k.startswith("val_")},
        }
        for r in grid
    ]
    body = {
        "group": group,
        "best": {k: best.config[k] for k in keys},
        "best_val": {k: v for k, v in best.metrics.items() if k.startswith("val_")},
        "trials": trials,
    }
    write_json(os.path.join(config.out, "search.json"), body, indent=1)
    return body
