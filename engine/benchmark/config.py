"""A benchmark's config: the grid (methods x rates x seeds), data, training and Tune settings."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator
from pydantic_core import ArgsKwargs

import models
from engine.config import ConfigMixin, config_class
from engine.data.align import Sources
from engine.expansion import SplitSpec
from engine.scoring import ScoringConfig
from engine.training import TrainConfig
from scorers import get_scorer

log = logging.getLogger(f"duse.{__name__}")


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


@config_class
class MethodSpec(ConfigMixin):
    """One row of the results table."""

    config_name: ClassVar[str] = "method"

    name: str = Field(description="the row label (unique; also the cell directory name)")
    scorer: str = Field(description="registered scorer name")
    params: dict[str, Any] = Field(
        default_factory=dict, description="the scorer's keyword parameters"
    )
    rounds: int = Field(1, ge=1, description="T (1: one-shot selection)")


@config_class
class GenerateSpec(ConfigMixin):
    """Synthesise ``data`` from a profile when it does not exist yet."""

    config_name: ClassVar[str] = "generate"

    profile: str = Field(description="engine.data.profiles name (rml2016a, sig2019, rml2018a, ...)")
    scale: float = Field(1.0, gt=0, description="fraction of the profile's full size")
    seed: int = Field(0, ge=0, description="generator seed")


@config_class
class TuneSpec(ConfigMixin):
    """How the grid runs on Ray Tune."""

    config_name: ClassVar[str] = "tune"

    max_concurrent_trials: int | None = Field(
        None, ge=1, description="trials at once (None: as many as the cluster's CPUs allow)"
    )
    cpus_per_trial: float = Field(
        1.0, gt=0, description="CPUs reserved per trial, also its torch threads (fractions allowed)"
    )
    max_failures: int = Field(
        0,
        ge=-1,
        description="Tune retries of a failed trial before it is reported as failed (-1: no limit)",
    )


def _methods_schema(schema: dict[str, Any]) -> None:
    """In YAML a ``methods`` entry is a scorer name or a :class:`MethodSpec` mapping."""
    name = {"type": "string", "description": "a scorer name (duse: one row per duse_orders end)"}
    schema["items"] = {"anyOf": [name, schema["items"]]}


@config_class
class BenchmarkConfig(ConfigMixin):
    """A complete, validated benchmark. Unknown keys are errors at every level.

    ``methods`` entries are scorer names or :class:`MethodSpec` mappings: ``"margin"`` is a
    one-shot row; ``"duse"`` is one row per ``duse_orders`` end with ``duse_rounds`` rounds,
    plus the one-round rows when ``active_learning_ablation``. The built config holds the rows.
    """

    config_name: ClassVar[str] = "benchmark config"

    data: str | None = Field(
        None, description="dataset URI (canonical format), split into test / target / pool per seed"
    )
    out: str | None = Field(
        None, description="output directory (local path: Tune and matplotlib write files); required"
    )
    target: str | None = Field(
        None, description="own data instead of data: your labelled target set (with pool)"
    )
    pool: str | None = Field(None, description="own data: the auxiliary pool, another dataset")
    test: str | None = Field(
        None,
        description="own data: a separate test set (None: split.test is carved from the target "
        "per seed)",
    )
    class_map: dict[str, str | None] = Field(
        default_factory=dict, description="own data: {pool class: target class or None}"
    )
    length_policy: str = Field(
        "error", description="own data: 'error', 'crop', 'pad' or 'resample'"
    )
    pool_snr_min_db: float | None = Field(
        None, description="own data: keep pool frames with SNR >= this"
    )
    pool_snr_max_db: float | None = Field(
        None, description="own data: keep pool frames with SNR <= this"
    )
    generate: GenerateSpec | None = Field(
        None, description="synthesise data first when it is missing (None: it must exist)"
    )
    methods: tuple[MethodSpec, ...] = Field(
        (),
        description="the rows: scorer names or {name, scorer, params, rounds} mappings; not "
        "given: the eight baselines, duse and random",
        json_schema_extra=_methods_schema,
    )
    rates: tuple[float, ...] = Field(
        DEFAULT_RATES, description="expansion rates, fractions of the auxiliary pool in (0, 1]"
    )
    seeds: tuple[int, ...] = Field(
        (0, 1, 2, 3, 4),
        description="one cell per seed (5 by default, as the paper); the seed drives the split, "
        "training and tie-breaking",
    )
    model: str = Field("cnn2d", description="architecture that scores the pool (the scorer model)")
    eval_models: tuple[str, ...] = Field(
        ("cnn2d",),
        description="architectures trained from scratch on each expanded set; more than one is "
        "the cross-architecture evaluation (paper Table III)",
    )
    duse_rounds: int = Field(5, ge=1, description="T of the duse methods")
    duse_orders: tuple[str, ...] = Field(
        DUSE_ORDERS,
        description="margin ends run for duse (reference/duse_paper.md 1c); each end is a row "
        "(duse, duse_largest_first)",
    )
    active_learning_ablation: bool = Field(
        False, description="also run each DUSE end in one round (<name>_no_al; Table IV)"
    )
    balanced: bool = Field(
        False, description="class-balanced mode (exact per-class quotas, paper Table II)"
    )
    split: SplitSpec = Field(
        default_factory=SplitSpec,
        description="test / target / pool split (file not allowed)",
    )
    train: TrainConfig = Field(
        default_factory=TrainConfig, description="training of the round (scorer) models"
    )
    eval_train: TrainConfig | None = Field(
        None, description="training of the evaluation models (None: train)"
    )
    scoring: ScoringConfig = Field(
        default_factory=lambda: ScoringConfig(executor="local"),
        description="executor of the scoring passes inside each trial",
    )
    paper: str | None = Field(
        None,
        description="which paper numbers to show beside ours (rml2016a, sig2019, rml2018a; "
        "None: the generated profile's, if it is one of those)",
    )
    share_scores: bool = Field(
        True,
        description="score each seed's pool once per score function in the first round "
        "(<out>/score_cache) and select every rate's budget from those scores; the selection "
        "is the same (False: every cell scores its pool)",
    )
    share_cells: bool = Field(
        True,
        description="run identical cells once (methods with one score function and the same "
        "rounds, e.g. duse_no_al and margin): the others get the record with same_as (False: "
        "every cell runs)",
    )
    figures: bool = Field(True, description="draw the PNG figures")
    tsne_reference_frames: int = Field(
        2000, ge=1, description="training frames of the t-SNE reference model (Fig. 4)"
    )
    tune: TuneSpec = Field(default_factory=TuneSpec, description="Ray Tune settings")

    @model_validator(mode="before")
    @classmethod
    def _rows_of_entries(cls, values: Any) -> Any:
        """Scorer names in ``methods`` become their rows (``duse``: one per order)."""
        if isinstance(values, ArgsKwargs):
            kwargs = values.kwargs or {}
            if "methods" in kwargs:
                rows = _method_rows(kwargs["methods"], kwargs)
                return ArgsKwargs(values.args, {**kwargs, "methods": rows})
        elif isinstance(values, dict) and "methods" in values:
            return {**values, "methods": _method_rows(values["methods"], values)}
        return values

    @field_validator("duse_orders")
    @classmethod
    def _known_orders(cls, orders: tuple[str, ...]) -> tuple[str, ...]:
        for order in orders:
            if order not in DUSE_ORDERS:
                raise ValueError(f"{order!r} is not one of {DUSE_ORDERS}")
        return orders

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BenchmarkConfig:
        """Build from nested dicts (a parsed YAML file); ``methods`` not given (or None): the
        eight baselines, ``duse`` and ``random``.

        Raises:
            ConfigError: an unknown key at any level, or a bad value.
        """
        if isinstance(values, dict) and values.get("methods") is None:
            values = {**values, "methods": [*BASELINES, "duse", "random"]}
        return super().from_dict(values)

    def expand_methods(self, entries: list[Any] | None) -> tuple[MethodSpec, ...]:
        """The rows for YAML ``methods`` entries (None: the default methods)."""
        return BenchmarkConfig.from_dict({**self.to_dict(), "methods": entries}).methods

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


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _method_rows(entries: Any, values: dict[str, Any]) -> Any:
    """``methods`` entries with scorer names turned into row mappings; anything else is left
    for validation to report. ``duse`` reads ``duse_orders``, ``duse_rounds`` and
    ``active_learning_ablation`` from ``values``, or their defaults where those are invalid
    (their own errors are reported on their keys)."""
    if not _is_list(entries):
        return entries
    orders = values.get("duse_orders", DUSE_ORDERS)
    if not _is_list(orders) or not all(order in DUSE_ORDERS for order in orders):
        orders = DUSE_ORDERS
    rounds = values.get("duse_rounds", 5)
    if type(rounds) is not int or rounds < 1:
        rounds = 5
    ablation = values.get("active_learning_ablation", False) is True
    rows: list[Any] = []
    for entry in entries:
        if entry != "duse":
            rows.append({"name": entry, "scorer": entry} if isinstance(entry, str) else entry)
            continue
        for order in orders:
            name, params = "duse" + _ORDER_SUFFIX[order], {"order": order}
            rows.append({"name": name, "scorer": "duse", "params": params, "rounds": rounds})
            if ablation:
                rows.append({"name": f"{name}_no_al", "scorer": "duse", "params": params})
    return rows


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
