"""An expansion run's config: the datasets, the scorer, the budget, the split and training."""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from engine.config import ConfigMixin, config_class
from engine.data.align import Sources
from engine.data.schema import Frames
from engine.data.splits import (
    Split,
    make_split,
)
from engine.scoring import (
    ScoringConfig,
)
from engine.training import TrainConfig

log = logging.getLogger(f"duse.{__name__}")


DEFAULT_RATE = 0.04


# Config sections that may change between a run and its resumption: they never change a score.
RESUMABLE_CHANGES = ("out", "scoring", "fit_cache")


@config_class
class SplitSpec(ConfigMixin):
    """How the dataset is split into test, target and auxiliary pool (``engine.data.splits``)."""

    config_name: ClassVar[str] = "split"

    test: float = Field(
        0.2,
        gt=0,
        description="test size, a fraction of the smallest class (< 1) or a total count (>= 1)",
    )
    target: float = Field(
        0.01,
        gt=0,
        description="initial target size, a fraction of the smallest class's training part or "
        "a count",
    )
    snr_min_db: float | None = Field(
        None, description="keep frames with SNR >= this (None: no bound)"
    )
    snr_max_db: float | None = Field(
        None, description="keep frames with SNR <= this (None: no bound)"
    )
    file: str | None = Field(
        None,
        description="an existing splits.json to use instead (no other field may be given then)",
    )

    @model_validator(mode="after")
    def _file_alone(self) -> SplitSpec:
        if self.file is not None:
            defaults = asdict(SplitSpec())
            given = [k for k, v in asdict(self).items() if k != "file" and v != defaults[k]]
            if given:
                raise ValueError(f"file is given, so {given} would be ignored; drop them")
        return self

    def make(self, index: Frames, num_classes: int, seed: int) -> Split:
        """A new split of ``index`` by these sizes and SNR bounds (``file`` is not read)."""
        return make_split(
            index,
            num_classes,
            test=self.test,
            target=self.target,
            snr_min_db=self.snr_min_db,
            snr_max_db=self.snr_max_db,
            seed=seed,
        )


# Own-data mode: the keys that name and fit the datasets (engine.data.align.Sources).
SOURCE_KEYS = ("target", "pool", "test", "class_map", "length_policy")


SOURCE_KEYS += ("pool_snr_min_db", "pool_snr_max_db")


@config_class
class ExpandConfig(ConfigMixin):
    """A complete, validated expansion run. Unknown keys are errors (:meth:`from_dict`).

    Two modes. One dataset: ``data`` is split into test, target and pool (``split``). Own
    data: ``target`` (your labelled set) and ``pool`` (another dataset), optionally ``test``;
    they are written into one working set in the run directory (``engine.data.align``), with
    ``class_map`` and ``length_policy`` fitting the pool to the target; without ``test``, a
    class-balanced test split of ``split.test`` is carved from the target.
    """

    config_name: ClassVar[str] = "expand config"

    data: str | None = Field(None, description="dataset URI (canonical format), one-dataset mode")
    out: str | None = Field(None, description="run directory URI (any fsspec URI); required")
    target: str | None = Field(None, description="own-data mode: your labelled target set")
    pool: str | None = Field(None, description="own-data mode: the auxiliary pool")
    test: str | None = Field(
        None, description="own-data mode: a separate test set (None: carved from the target)"
    )
    class_map: dict[str, str | None] = Field(
        default_factory=dict, description="own-data mode: {pool class: target class or None}"
    )
    length_policy: str = Field(
        "error",
        description="own-data mode: 'error', 'crop', 'pad' or 'resample' for pool frames of "
        "another length",
    )
    pool_snr_min_db: float | None = Field(
        None, description="keep pool frames with SNR >= this (None: no bound)"
    )
    pool_snr_max_db: float | None = Field(
        None, description="keep pool frames with SNR <= this (None: no bound)"
    )
    scorer: str = Field("duse", description="registered scorer name (duse scorers)")
    scorer_params: dict[str, Any] = Field(
        default_factory=dict, description="keyword parameters of the scorer"
    )
    model: str = Field("cnn2d", description="architecture trained each round to score the pool")
    eval_model: str | None = Field(
        None, description="architecture of the final evaluation (None: model)"
    )
    rounds: int = Field(
        5, ge=1, description="T, the number of train-score-select rounds (1: one-shot)"
    )
    rate: float | None = Field(
        None,
        description="budget as a fraction of the auxiliary pool, in (0, 1]; default 0.04 "
        "unless count is given",
    )
    count: int | None = Field(
        None, ge=1, description="budget as a number of samples (exclusive with rate)"
    )
    balanced: bool = Field(
        False, description="exact per-class quotas each round (class-balanced mode)"
    )
    seed: int = Field(0, description="the run's seed; every draw derives from (seed, round)")
    split: SplitSpec = Field(default_factory=SplitSpec, description="the split")
    train: TrainConfig = Field(
        default_factory=TrainConfig,
        description="training settings of the round models (their seed is replaced by one "
        "derived per round)",
    )
    eval_train: TrainConfig | None = Field(
        None, description="training settings of the final model (None: train)"
    )
    evaluate: bool = Field(True, description="train the final model and measure test accuracy")
    scoring: ScoringConfig = Field(
        default_factory=ScoringConfig, description="executor settings of the scoring passes"
    )
    fit_cache: str | None = Field(
        None,
        description="a directory URI of trained round models shared between runs (the cells of "
        "a benchmark): a round model whose architecture, dataset, training ids and training "
        "config match a stored one is loaded instead of trained (None: no cache)",
    )

    @field_validator("rate")
    @classmethod
    def _rate_in_range(cls, rate: float | None) -> float | None:
        if rate is not None and not 0 < rate <= 1:
            raise ValueError(f"rate must lie in (0, 1], got {rate}")
        return rate

    @model_validator(mode="after")
    def _check(self) -> ExpandConfig:
        if self.rate is not None and self.count is not None:
            raise ValueError("give the budget as rate or count, not both")
        if self.rate is None and self.count is None:
            object.__setattr__(self, "rate", DEFAULT_RATE)
        if not self.out:
            raise ValueError("out (the run directory) is required")
        if self.data and (self.target or self.pool or self.test):
            raise ValueError("give either data (one dataset, split) or target and pool, not both")
        if not self.data and not (self.target and self.pool):
            raise ValueError("give data (one dataset) or target and pool (your own data)")
        if self.data and (self.class_map or self.length_policy != "error"):
            raise ValueError("class_map and length_policy apply to target and pool only")
        if self.target:
            self.sources()  # checks length_policy and class_map
            if replace(self.split, test=SplitSpec.test) != SplitSpec():
                raise ValueError(
                    "with target and pool only split.test applies (the test split carved from "
                    "the target); use pool_snr_min_db / pool_snr_max_db to filter the pool"
                )
        return self

    def sources(self) -> Sources | None:
        """The own-data datasets (None in one-dataset mode)."""
        return Sources.of(self)
