"""A benchmark's config: the grid (methods x rates x seeds), data, training and Tune settings."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import fsspec
import yaml

import models
from engine._internal.config import checked_fields
from engine.data.align import Sources
from engine.expansion import SplitSpec
from engine.scoring import ScoringConfig
from engine.training import TrainConfig
from scorers import get_scorer

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
