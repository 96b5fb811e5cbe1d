"""An expansion run's config: the datasets, the scorer, the budget, the split and training."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import fsspec
import yaml

from engine._internal.config import checked_fields
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

log = logging.getLogger(__name__)


DEFAULT_RATE = 0.04


# Config sections that may change between a run and its resumption: they never change a score.
RESUMABLE_CHANGES = ("out", "scoring", "fit_cache")


@dataclass(frozen=True)
class SplitSpec:
    """How the dataset is split into test, target and auxiliary pool (``engine.data.splits``).

    Attributes:
        test: test size, a fraction of the smallest class (< 1) or a total count (>= 1).
        target: initial target size, a fraction of the smallest class's training part or a count.
        snr_min_db: keep frames with SNR >= this (None: no bound).
        snr_max_db: keep frames with SNR <= this (None: no bound).
        file: an existing ``splits.json`` to use instead (no other field may be given then).
    """

    test: float = 0.2
    target: float = 0.01
    snr_min_db: float | None = None
    snr_max_db: float | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        if self.file is not None:
            defaults = asdict(SplitSpec())
            given = [k for k, v in asdict(self).items() if k != "file" and v != defaults[k]]
            if given:
                raise ValueError(f"split: file is given, so {given} would be ignored; drop them")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SplitSpec:
        """Build from a dict; unknown keys, and any other key beside ``file``, are errors."""
        values = checked_fields(cls, values, "split")
        if values.get("file") is not None and len(values) > 1:
            others = sorted(set(values) - {"file"})
            raise ValueError(f"split: file is given, so {others} would be ignored; drop them")
        return cls(**values)

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


@dataclass(frozen=True)
class ExpandConfig:
    """A complete, validated expansion run. Unknown keys are errors (:meth:`from_dict`).

    Two modes. One dataset: ``data`` is split into test, target and pool (``split``). Own
    data: ``target`` (your labelled set) and ``pool`` (another dataset), optionally ``test``;
    they are written into one working set in the run directory (``engine.data.align``), with
    ``class_map`` and ``length_policy`` fitting the pool to the target; without ``test``, a
    class-balanced test split of ``split.test`` is carved from the target.

    Attributes:
        data: dataset URI (canonical format), one-dataset mode.
        out: run directory URI (any fsspec URI).
        target: own-data mode: your labelled target set.
        pool: own-data mode: the auxiliary pool.
        test: own-data mode: a separate test set (None: carved from the target).
        class_map: own-data mode: ``{pool class: target class or None}``.
        length_policy: own-data mode: ``error``, ``crop``, ``pad`` or ``resample`` for pool
            frames of another length.
        pool_snr_min_db: keep pool frames with SNR >= this (None: no bound).
        pool_snr_max_db: keep pool frames with SNR <= this (None: no bound).
        scorer: registered scorer name (``duse scorers``).
        scorer_params: keyword parameters of the scorer.
        model: architecture trained each round to score the pool.
        eval_model: architecture of the final evaluation (default: ``model``).
        rounds: T, the number of train-score-select rounds (1: one-shot).
        rate: budget as a fraction of the auxiliary pool, in (0, 1]; default 0.04 unless
            ``count`` is given.
        count: budget as a number of samples (exclusive with ``rate``).
        balanced: exact per-class quotas each round (class-balanced mode).
        seed: the run's seed; every draw derives from ``(seed, round)``.
        split: the split (:class:`SplitSpec`).
        train: training settings of the round models (``engine.training.TrainConfig``; its
            ``seed`` is replaced by one derived per round).
        eval_train: training settings of the final model (default: ``train``).
        evaluate: train the final model and measure test accuracy.
        scoring: executor settings (``engine.scoring.ScoringConfig``).
        fit_cache: a directory URI of trained round models shared between runs (the cells of a
            benchmark): a round model whose architecture, dataset, training ids and training
            config match a stored one is loaded instead of trained (None: no cache).
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
    scorer: str = "duse"
    scorer_params: dict[str, Any] = field(default_factory=dict)
    model: str = "cnn2d"
    eval_model: str | None = None
    rounds: int = 5
    rate: float | None = None
    count: int | None = None
    balanced: bool = False
    seed: int = 0
    split: SplitSpec = field(default_factory=SplitSpec)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval_train: TrainConfig | None = None
    evaluate: bool = True
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    fit_cache: str | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and self.count is not None:
            raise ValueError("give the budget as rate or count, not both")
        if self.rate is None and self.count is None:
            object.__setattr__(self, "rate", DEFAULT_RATE)
        if self.rate is not None and not 0 < self.rate <= 1:
            raise ValueError(f"rate must lie in (0, 1], got {self.rate}")
        if self.count is not None and (isinstance(self.count, bool) or self.count < 1):
            raise ValueError(f"count must be an integer >= 1, got {self.count!r}")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(f"rounds must be an integer >= 1, got {self.rounds!r}")
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

    def sources(self) -> Sources | None:
        """The own-data datasets (None in one-dataset mode)."""
        return Sources.of(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExpandConfig:
        """Build from nested dicts (a parsed YAML file).

        Raises:
            KeyError: an unknown key at any level (the message lists the known ones).
            ValueError: a bad value.
        """
        values = checked_fields(cls, values, "expand config")
        nested = {
            "split": (SplitSpec, SplitSpec.from_dict),
            "train": (TrainConfig, TrainConfig.from_dict),
            "eval_train": (TrainConfig, TrainConfig.from_dict),
            "scoring": (ScoringConfig, ScoringConfig.from_dict),
        }
        for key, (kind, build) in nested.items():
            if values.get(key) is not None and not isinstance(values[key], kind):
                values[key] = build(values[key])
        return cls(**values)

    @classmethod
    def from_yaml(cls, uri: str, **overrides: Any) -> ExpandConfig:
        """Read a YAML file (path or URI); top-level ``overrides`` win over the file."""
        with fsspec.open(uri, "r") as handle:
            values = yaml.safe_load(handle) or {}
        return cls.from_dict({**values, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML-ready), every default resolved."""
        return asdict(self)
