"""The benchmark: DUSE against the coreset baselines as a Ray Tune grid (docs/benchmark.md).

A grid of *cells* (method x expansion rate x seed). One cell is one expansion run
(:func:`engine.expansion.expand`: DUSE with its rounds, baselines one-shot) followed by training
each evaluation model from scratch on the expanded set and testing it. Every cell is one Tune
trial; the driver then aggregates the cells into ``results.md``/``.csv``/``.json`` and figures
(:mod:`engine.report`).

Work shared between cells is done once in the driver before any trial starts: the dataset is
generated once, and one split per seed is written to ``<out>/splits/seed-<s>.json`` and used by
every cell of that seed. All input checks run before the first trial as well. Each cell writes
``<out>/cells/<method>/rate-<r>/seed-<s>/cell.json`` last; running the same config again skips
finished cells and resumes unfinished expansion runs after their last complete round, so failed
trials are reported and resumed by re-running.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import fsspec
import numpy as np
import yaml

import models
from engine._internal.config import checked_fields
from engine.data.align import Sources, build_working_set
from engine.data.splits import Split, make_own_split, with_dataset
from engine.data.store import read_frames, read_index, read_meta
from engine.expansion import ExpandConfig, SplitSpec, budget_size, expand
from engine.scoring import ScoringConfig
from engine.training import TrainConfig, evaluate, fit
from scorers import get_scorer

__all__ = [
    "BASELINES",
    "DEFAULT_RATES",
    "BenchmarkConfig",
    "BenchmarkResult",
    "GenerateSpec",
    "MethodSpec",
    "TuneSpec",
    "cell_dir",
    "run_benchmark",
    "run_cell",
    "validate",
]

log = logging.getLogger(__name__)

BASELINES = (
    "least_confidence",
    "entropy",
    "margin",
    "deepfool",
    "forgetting",
    "glister",
    "grand",
    "herding",
)
DEFAULT_RATES = (0.01, 0.04, 0.07, 0.09, 0.19)
DUSE_ORDERS = ("smallest_first", "largest_first")
# Name suffix of each DUSE margin end; the prose's end (reference/duse_paper.md 1c) keeps "duse".
_ORDER_SUFFIX = {"smallest_first": "", "largest_first": "_largest_first"}
PAPER_DATASETS = ("rml2016a", "sig2019", "rml2018a")


@dataclass(frozen=True)
class MethodSpec:
    """One row of the results table.

    Attributes:
        name: the row label (unique; also the cell directory name).
        scorer: registered scorer name.
        params: the scorer's keyword parameters.
        rounds: T (1: one-shot selection).
    """

    name: str
    scorer: str
    params: dict[str, Any] = field(default_factory=dict)
    rounds: int = 1


@dataclass(frozen=True)
class GenerateSpec:
    """Synthesise ``data`` from a profile when it does not exist yet.

    Attributes:
        profile: ``engine.data.profiles`` name (``rml2016a``, ``sig2019``, ``rml2018a``, ...).
        scale: fraction of the profile's full size.
        seed: generator seed.
    """

    profile: str
    scale: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class TuneSpec:
    """How the grid runs on Ray Tune.

    Attributes:
        max_concurrent_trials: trials at once (None: as many as the cluster's CPUs allow).
        cpus_per_trial: CPUs reserved per trial, also its torch threads (fractions allowed).
        max_failures: Tune retries of a failed trial before it is reported as failed.
    """

    max_concurrent_trials: int | None = None
    cpus_per_trial: float = 1.0
    max_failures: int = 0


@dataclass(frozen=True)
class BenchmarkConfig:
    """A complete, validated benchmark. Unknown keys are errors at every level.

    Attributes:
        data: dataset URI (canonical format), split into test / target / pool per seed.
        out: output directory (local path: Tune and matplotlib write files).
        target: own data instead of ``data``: your labelled target set (with ``pool``).
        pool: own data: the auxiliary pool, another dataset.
        test: own data: a separate test set (None: ``split.test`` is carved from the target
            per seed).
        class_map: own data: ``{pool class: target class or None}``.
        length_policy: own data: ``error``, ``crop``, ``pad`` or ``resample``.
        pool_snr_min_db: own data: keep pool frames with SNR >= this.
        pool_snr_max_db: own data: keep pool frames with SNR <= this.
        generate: synthesise ``data`` first when it is missing (None: it must exist).
        methods: the rows; YAML entries are scorer names or ``{name, scorer, params, rounds}``
            mappings (see :meth:`from_dict`). Default: the eight baselines, ``duse``, ``random``.
        rates: expansion rates, fractions of the auxiliary pool in (0, 1].
        seeds: one cell per seed; the seed drives the split, training and tie-breaking.
        model: architecture that scores the pool (the scorer model).
        eval_models: architectures trained from scratch on each expanded set; more than one is
            the cross-architecture evaluation (paper Table III).
        duse_rounds: T of the ``duse`` methods.
        duse_orders: margin ends run for ``duse`` (reference/duse_paper.md 1c); each end is a
            row (``duse``, ``duse_largest_first``).
        active_learning_ablation: also run each DUSE end in one round (``<name>_no_al``; Table IV).
        balanced: class-balanced mode (exact per-class quotas, paper Table II).
        split: test / target / pool split (``engine.expansion.SplitSpec``; ``file`` not allowed).
        train: training of the round (scorer) models.
        eval_train: training of the evaluation models (default: ``train``).
        scoring: executor of the scoring passes inside each trial.
        paper: which paper numbers to show beside ours (``rml2016a``, ``sig2019``,
            ``rml2018a``; None: the generated profile's, if it is one of those).
        figures: draw the PNG figures.
        tsne_reference_frames: training frames of the t-SNE reference model (Fig. 4).
        tune: Ray Tune settings.
    """

    data: str | None = None
    out: str | None = None
    target: str | None = None
    pool: str | None = None
    test: str | None = None
    class_map: dict[str, str | None] = field(default_factory=dict)
    length_policy: str = "error"
    pool_snr_min_db: float | None = None
    pool_snr_max_db: float | None = None
    generate: GenerateSpec | None = None
    methods: tuple[MethodSpec, ...] = ()
    rates: tuple[float, ...] = DEFAULT_RATES
    seeds: tuple[int, ...] = (0, 1, 2)
    model: str = "cnn2d"
    eval_models: tuple[str, ...] = ("cnn2d",)
    duse_rounds: int = 5
    duse_orders: tuple[str, ...] = DUSE_ORDERS
    active_learning_ablation: bool = False
    balanced: bool = False
    split: SplitSpec = field(default_factory=SplitSpec)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval_train: TrainConfig | None = None
    scoring: ScoringConfig = field(default_factory=lambda: ScoringConfig(executor="local"))
    paper: str | None = None
    figures: bool = True
    tsne_reference_frames: int = 2000
    tune: TuneSpec = field(default_factory=TuneSpec)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BenchmarkConfig:
        """Build from nested dicts (a parsed YAML file).

        ``methods`` entries: a scorer name (``"margin"``: one-shot; ``"duse"``: one row per
        ``duse_orders`` end with ``duse_rounds`` rounds, plus the one-round rows when
        ``active_learning_ablation``) or a mapping of :class:`MethodSpec` fields.

        Raises:
            KeyError: an unknown key at any level.
            ValueError: a bad value or an empty grid.
        """
        values = checked_fields(cls, values, "benchmark config")
        sections = {
            "generate": lambda v: GenerateSpec(**checked_fields(GenerateSpec, v, "generate")),
            "split": SplitSpec.from_dict,
            "train": TrainConfig.from_dict,
            "eval_train": TrainConfig.from_dict,
            "scoring": ScoringConfig.from_dict,
            "tune": lambda v: TuneSpec(**checked_fields(TuneSpec, v, "tune")),
        }
        for key, build in sections.items():
            if isinstance(values.get(key), dict):
                values[key] = build(values[key])
        for key in ("rates", "seeds", "eval_models", "duse_orders"):
            if key in values:
                values[key] = tuple(_as_list(values[key], key))
        entries = values.pop("methods", None)
        config = cls(**values)
        return replace(config, methods=config.expand_methods(entries))

    @classmethod
    def from_yaml(cls, uri: str, **overrides: Any) -> BenchmarkConfig:
        """Read a YAML file (path or URI); top-level ``overrides`` win over the file."""
        with fsspec.open(uri, "r") as handle:
            values = yaml.safe_load(handle) or {}
        return cls.from_dict({**values, **overrides})

    def expand_methods(self, entries: list[Any] | None) -> tuple[MethodSpec, ...]:
        """The rows for YAML ``methods`` entries (None: the default methods)."""
        if entries is None:
            entries = [*BASELINES, "duse", "random"]
        rows: list[MethodSpec] = []
        for entry in _as_list(entries, "methods"):
            if isinstance(entry, dict):
                rows.append(MethodSpec(**checked_fields(MethodSpec, entry, "method")))
            elif entry == "duse":
                rows += self._duse_methods()
            elif isinstance(entry, str):
                rows.append(MethodSpec(entry, entry))
            else:
                raise ValueError(f"methods: an entry must be a scorer name or mapping: {entry!r}")
        return tuple(rows)

    def _duse_methods(self) -> list[MethodSpec]:
        rows = []
        for order in self.duse_orders:
            if order not in DUSE_ORDERS:
                raise ValueError(f"duse_orders: {order!r} is not one of {DUSE_ORDERS}")
            name = "duse" + _ORDER_SUFFIX[order]
            rows.append(MethodSpec(name, "duse", {"order": order}, self.duse_rounds))
            if self.active_learning_ablation:
                rows.append(MethodSpec(f"{name}_no_al", "duse", {"order": order}, 1))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML-ready), every default and every method resolved."""
        values = asdict(self)
        for key in ("methods", "rates", "seeds", "eval_models", "duse_orders"):
            values[key] = list(values[key])
        return values

    def cells(self) -> list[dict[str, Any]]:
        """Every (method, rate, seed) of the grid, seeds outermost (a seed's cells finish
        together, so a cut-short run still has whole seeds)."""
        return [
            {"method": method.name, "rate": rate, "seed": seed}
            for seed in self.seeds
            for method in self.methods
            for rate in self.rates
        ]

    def method(self, name: str) -> MethodSpec:
        """The method called ``name``."""
        return next(method for method in self.methods if method.name == name)

    def paper_dataset(self) -> str | None:
        """The paper's dataset whose numbers are shown beside ours (None: none)."""
        if self.paper is not None:
            return self.paper
        profile = self.generate.profile if self.generate else None
        return profile if profile in PAPER_DATASETS else None


def _as_list(value: Any, key: str) -> list[Any]:
    if isinstance(value, str | bytes | dict) or not hasattr(value, "__iter__"):
        raise ValueError(f"{key} must be a list, got {value!r}")
    return list(value)


@dataclass(frozen=True)
class BenchmarkResult:
    """What :func:`run_benchmark` produced (everything is also under ``out``).

    Attributes:
        out: the output directory.
        runs: one record per finished cell (``cell.json``'s content).
        failed: the cells whose trial failed, each with its error text.
        table: the markdown of ``results.md``.
        report: the path of ``results.md``.
    """

    out: str
    runs: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    table: str
    report: str


def validate(config: BenchmarkConfig) -> None:
    """The checks that need no dataset: grid, rates, methods, scorers and models.

    Raises:
        ValueError: an empty grid, a rate outside (0, 1], a repeated method name, a bad
            scorer parameter or option.
        KeyError: an unknown scorer or model.
    """
    if not config.out:
        raise ValueError("out (the benchmark directory) is required")
    if bool(config.data) == bool(config.target and config.pool):
        raise ValueError("give data (one dataset) or target and pool (your own data), not both")
    if config.target and config.generate is not None:
        raise ValueError("generate makes data; it does not apply to target and pool")
    if config.target:
        sources_of(config)  # checks class_map and length_policy
        if replace(config.split, test=SplitSpec.test) != SplitSpec():
            raise ValueError(
                "with target and pool only split.test applies (the test split carved from the "
                "target); use pool_snr_min_db / pool_snr_max_db to filter the pool"
            )
    for key in ("methods", "rates", "seeds", "eval_models"):
        if not getattr(config, key):
            raise ValueError(f"empty grid: {key} is empty")
    for rate in config.rates:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
            raise ValueError(f"rates: {rate!r} is outside (0, 1]")
    names = [method.name for method in config.methods]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"methods: names {repeated} repeat; give each row its own name")
    for method in config.methods:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", method.name):
            raise ValueError(f"method name {method.name!r}: use letters, digits, '_', '.', '-'")
        try:
            get_scorer(method.scorer, **method.params)
        except TypeError as error:
            raise ValueError(f"method {method.name!r}: {error}") from None
        if method.rounds < 1:
            raise ValueError(f"method {method.name!r}: rounds must be >= 1")
    for name in {config.model, *config.eval_models}:
        models.model_spec(name)
    if config.split.file:
        raise ValueError("split.file is not allowed: the benchmark writes one split per seed")
    if config.paper is not None and config.paper not in PAPER_DATASETS:
        raise ValueError(f"paper: {config.paper!r} is not one of {PAPER_DATASETS}")
    if len(set(config.rates)) != len(config.rates) or len(set(config.seeds)) != len(config.seeds):
        raise ValueError("rates and seeds must not repeat")


def sources_of(config: BenchmarkConfig) -> Sources:
    """Own-data mode: the datasets and how the pool is fitted to the target."""
    return Sources.of(config)


def _make_split(config: BenchmarkConfig, meta, seed: int) -> Split:
    if config.target:
        index = read_frames(config.data, with_iq=False, extra=True)
        split = make_own_split(
            index, meta.num_classes, test=config.split.test, seed=seed, classes=meta.classes
        )
    else:
        split = config.split.make(read_index(config.data), meta.num_classes, seed)
    return with_dataset(split, meta)


def _prepare(config: BenchmarkConfig) -> dict[int, str]:
    """Generate the data if asked, write one split per seed, check every cell's budget.

    Returns:
        ``{seed: splits.json path}``.
    """
    from engine.data.generate import generate

    fs, path = fsspec.core.url_to_fs(config.data)
    if config.generate is not None and not fs.exists(f"{path}/dataset.json"):
        spec = config.generate
        log.info("generating %s at scale %g into %s", spec.profile, spec.scale, config.data)
        generate(spec.profile, config.data, scale=spec.scale, seed=spec.seed, progress=True)
    meta = read_meta(config.data)
    for name in {config.model, *config.eval_models}:
        if meta.length < models.model_spec(name).min_length:
            raise ValueError(f"model {name!r} cannot take frames of L={meta.length}")
    splits = {}
    for seed in config.seeds:
        uri = os.path.join(config.out, "splits", f"seed-{seed}.json")
        if not os.path.exists(uri):
            split = _make_split(config, meta, seed)
            os.makedirs(os.path.dirname(uri), exist_ok=True)
            split.save(uri)
        splits[seed] = uri
        pool_size = len(Split.load(uri).pool_ids)
        for cell in config.cells():
            if cell["seed"] == seed:
                budget_size(_expand_config(config, cell, uri), pool_size)
    return splits


def cell_dir(config: BenchmarkConfig, cell: dict[str, Any]) -> str:
    """The directory of one cell's outputs."""
    return os.path.join(
        config.out, "cells", cell["method"], f"rate-{cell['rate']:g}", f"seed-{cell['seed']}"
    )


def _record_path(config: BenchmarkConfig, cell: dict[str, Any]) -> str:
    """``cell.json``: written last, so its presence marks the cell finished."""
    return os.path.join(cell_dir(config, cell), "cell.json")


def _expand_config(config: BenchmarkConfig, cell: dict[str, Any], split_file: str):
    method = config.method(cell["method"])
    return ExpandConfig(
        data=config.data,
        out=os.path.join(cell_dir(config, cell), "expansion"),
        scorer=method.scorer,
        scorer_params=dict(method.params),
        model=config.model,
        rounds=method.rounds,
        rate=cell["rate"],
        balanced=config.balanced,
        seed=cell["seed"],
        split=SplitSpec(file=split_file),
        train=config.train,
        evaluate=False,
        scoring=config.scoring,
        fit_cache=os.path.join(config.out, "fit_cache"),
    )


def eval_seed(seed: int, model_index: int) -> int:
    """Training seed of evaluation model ``model_index`` in a cell of ``seed``."""
    return int(np.random.SeedSequence([seed, 0xE7A1, model_index]).generate_state(1)[0] >> 1)


def run_cell(config: BenchmarkConfig, cell: dict[str, Any], split_file: str) -> dict[str, Any]:
    """One cell: expand (or resume), then train and test every evaluation model.

    A finished cell (its ``cell.json`` exists) is read back, not recomputed.

    Args:
        config: the benchmark.
        cell: ``{"method", "rate", "seed"}``.
        split_file: the seed's ``splits.json``.

    Returns:
        The cell record: the cell's keys, ``scorer``, ``rounds``, ``budget``, sizes,
        ``selected_per_class`` (selected samples per class), ``selection_s`` (the rounds' wall
        time: training the round models, scoring, selecting) and ``evaluations``
        (``{model: {accuracy, per_snr, per_class, n, training_s}}``).
    """
    record_path = _record_path(config, cell)
    if os.path.exists(record_path):
        with open(record_path) as handle:
            return json.load(handle)
    expansion = expand(_expand_config(config, cell, split_file))
    test_ids = Split.load(split_file).test_ids
    num_classes = read_meta(config.data).num_classes
    evaluations = {}
    for model_index, name in enumerate(config.eval_models):
        train = replace(
            config.eval_train or config.train, seed=eval_seed(cell["seed"], model_index)
        )
        start = time.perf_counter()
        weights = fit(name, config.data, expansion.target_ids, train)
        training_s = time.perf_counter() - start
        metrics = evaluate(weights, config.data, test_ids, batch_size=config.scoring.batch_size)
        metrics.pop("confusion", None)
        evaluations[name] = {**metrics, "training_s": round(training_s, 3)}
    method = config.method(cell["method"])
    record = {
        **cell,
        "scorer": method.scorer,
        "rounds": method.rounds,
        "budget": expansion.metrics["budget"],
        "pool_size": expansion.metrics["pool_size"],
        "final_target_size": expansion.metrics["final_target_size"],
        "selected_per_class": np.bincount(
            expansion.manifest["label"].astype(np.int64), minlength=num_classes
        ).tolist(),
        "selection_s": round(sum(r["seconds"] for r in expansion.metrics["rounds"]), 3),
        "evaluations": evaluations,
        "manifest": os.path.join(expansion.run_dir, "manifest.parquet"),
    }
    _write_json(record_path, record)
    return record


def _write_json(path: str, body: Any) -> None:
    """Write atomically: a temp name in the same directory, then a rename."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    staging = f"{path}.partial-{os.getpid()}"
    with open(staging, "w") as handle:
        json.dump(body, handle, indent=1)
    os.replace(staging, path)


def _cell_trial(params: dict[str, Any], benchmark: dict[str, Any], splits: dict[int, str]) -> None:
    """Tune trainable: one cell; reports the first evaluation model's accuracy."""
    import torch
    from ray import tune

    config = BenchmarkConfig.from_dict(benchmark)
    torch.set_num_threads(max(1, int(config.tune.cpus_per_trial)))
    logging.getLogger("engine").setLevel(logging.INFO)
    cell = params["cell"]
    record = run_cell(config, cell, splits[cell["seed"]])
    first = record["evaluations"][config.eval_models[0]]
    tune.report({"accuracy": first["accuracy"], "cell": cell_dir(config, cell)})


def _run_grid(
    config: BenchmarkConfig, cells: list[dict[str, Any]], splits: dict[int, str]
) -> list[dict[str, Any]]:
    """``cells`` as Tune trials (actors reused across trials); returns the failed cells with
    their errors."""
    import ray
    from ray import tune

    from engine._internal.ray_runtime import ensure_ray

    ensure_ray()
    log.info("benchmark: %d cells to run on %s", len(cells), ray.cluster_resources())
    trainable = tune.with_parameters(_cell_trial, benchmark=config.to_dict(), splits=splits)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"CPU": config.tune.cpus_per_trial}),
        param_space={"cell": tune.grid_search(cells)},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=config.tune.max_concurrent_trials, reuse_actors=True
        ),
        run_config=tune.RunConfig(
            name="benchmark",
            storage_path=os.path.abspath(os.path.join(config.out, "tune")),
            failure_config=tune.FailureConfig(max_failures=config.tune.max_failures),
            verbose=0,
        ),
    )
    grid = tuner.fit()
    return [
        {**result.config["cell"], "error": str(result.error).strip().splitlines()[-1]}
        for result in grid
        if result.error is not None
    ]


def _absolute(config: BenchmarkConfig) -> BenchmarkConfig:
    """Local paths made absolute: Tune runs each trial in its own working directory."""

    def absolute(uri: str | None) -> str | None:
        return uri if uri is None or "://" in uri else os.path.abspath(uri)

    paths = {key: absolute(getattr(config, key)) for key in ("data", "target", "pool", "test")}
    return replace(config, **paths, out=os.path.abspath(config.out))


def run_benchmark(
    config: BenchmarkConfig, *, on_prepared: Callable[[], None] | None = None
) -> BenchmarkResult:
    """Run (or resume) the benchmark grid on Ray Tune and write the report.

    Every check runs before the first trial. Failed trials do not stop the others; they are
    listed in the report and in the result, and running the same config again resumes them.

    Args:
        config: the benchmark.
        on_prepared: called once the data and splits exist, before the first trial.

    Returns:
        The runs, the failed cells, the results table and the report path.

    Raises:
        KeyError: unknown scorer, model or config key.
        ValueError: an empty grid, a rate outside (0, 1], a budget a pool cannot give, ...
    """
    from engine.report import write_report

    validate(config)
    config = _absolute(config)
    if config.target:  # own data: the cells run on one working set in the target's classes
        working = build_working_set(sources_of(config), os.path.join(config.out, "data"))
        config = replace(config, data=working.uri)
    splits = _prepare(config)
    if on_prepared is not None:
        on_prepared()
    os.makedirs(config.out, exist_ok=True)
    with open(os.path.join(config.out, "config.yaml"), "w") as handle:
        yaml.safe_dump(config.to_dict(), handle, sort_keys=False)
    pending = [cell for cell in config.cells() if not os.path.exists(_record_path(config, cell))]
    log.info(
        "benchmark: %d of %d cells already finished",
        len(config.cells()) - len(pending),
        len(config.cells()),
    )
    failed = _run_grid(config, pending, splits) if pending else []
    runs = []
    for cell in config.cells():
        if os.path.exists(_record_path(config, cell)):
            with open(_record_path(config, cell)) as handle:
                runs.append(json.load(handle))
    report = write_report(config, runs, failed, splits)
    with open(report) as handle:
        table = handle.read()
    return BenchmarkResult(config.out, runs, failed, table, report)
