"""The DUSE loop: grow a small target set from the auxiliary pool in T rounds, with resume.

::

    split -> target T0, pool A0
    for round t in 1..T:
        model_t = fit(model, T_{t-1})               # in-process or Ray Train
        S_t = select(score(model_t, A0 \\ selected), k_t, balanced?)
        write rounds/round-t                         # atomic; a restart resumes after it
        T_t = T_{t-1} + S_t
    fit(eval_model, T_T) from scratch; accuracy on the test split

T=1 is a one-shot baseline. The budget is an *expansion rate* (a fraction of the auxiliary pool
A0, the default) or an absolute count; ``k_t = budget // T``, the first ``budget % T`` rounds
taking one more. Every random draw is seeded from ``(seed, round)``, so a run stopped at any
point and restarted on the same run directory ends with exactly the selection of an
uninterrupted run. docs/expansion.md describes the run directory and the YAML config.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import logging
import posixpath
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import yaml

import models
from engine._internal.atomic import write_bytes
from engine._internal.config import checked_fields
from engine._internal.run_lock import run_lock
from engine.data.align import Sources, build_working_set, in_snr_window
from engine.data.schema import EXTRA_COLUMNS, DatasetMeta, Frames
from engine.data.splits import (
    Split,
    check_split_dataset,
    make_own_split,
    make_split,
    with_dataset,
)
from engine.data.store import read_frames, read_index, read_meta, read_parquet, resolve
from engine.model_outputs import check_model_provides, compute_outputs
from engine.scoring import (
    PoolScores,
    ScoringConfig,
    SelectedRows,
    pool_outputs,
    score_and_select,
    score_pool,
)
from engine.selection import select, select_set
from engine.training import FitResult, TrainConfig, evaluate, fit, read_finite_frames
from scorers import (
    DynamicsScorer,
    ModelOutputs,
    Scorer,
    SetSelector,
    average_repeats,
    checked_dynamics_score,
    checked_observe,
    get_scorer,
    scorer_class,
)

__all__ = [
    "DEFAULT_RATE",
    "ExpandConfig",
    "ExpansionResult",
    "RoundRecord",
    "SplitSpec",
    "budget_size",
    "expand",
    "round_sizes",
]

log = logging.getLogger(__name__)

DEFAULT_RATE = 0.04
MANIFEST_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("round", pa.int16()),
        ("rank", pa.int32()),
        ("score", pa.float64()),
        ("label", pa.int16()),
        ("snr", pa.float32()),
    ]
)
PROVENANCE = ("source", "source_id", "source_class")
MODEL_NAME = "model.pt"  # the final evaluation model, with its class names and L
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


@dataclass(frozen=True)
class RoundRecord:
    """One completed round, as written to ``rounds/round-NNNN.*``.

    Attributes:
        round: 1-based round number.
        rows: the selected rows, best first.
        metrics: JSON-ready facts about the round (k, sizes, timings, train accuracy).
    """

    round: int
    rows: SelectedRows
    metrics: dict[str, Any]


@dataclass(frozen=True)
class ExpansionResult:
    """What :func:`expand` produced (everything is also in the run directory).

    Attributes:
        run_dir: the run directory URI.
        target_ids: final target set (initial target plus every selection), sorted.
        selected_ids: every selected id in manifest order (round, then rank).
        manifest: the manifest columns (``id, round, rank, score, label, snr``).
        metrics: the content of ``metrics.json``.
    """

    run_dir: str
    target_ids: np.ndarray
    selected_ids: np.ndarray
    manifest: dict[str, np.ndarray]
    metrics: dict[str, Any]


def budget_size(config: ExpandConfig, pool_size: int) -> int:
    """The total number of samples to select.

    Args:
        config: the run (``rate`` or ``count``).
        pool_size: ``|A0|``, the auxiliary pool after the split.

    Returns:
        ``count``, or ``round(rate * pool_size)`` (halves rounded up).

    Raises:
        ValueError: the budget is larger than the pool or smaller than the number of rounds.
    """
    if config.count is not None:
        budget = config.count
    else:
        budget = int(np.floor(config.rate * pool_size + 0.5))
    if budget > pool_size:
        raise ValueError(f"budget of {budget} samples is larger than the pool ({pool_size})")
    if budget < config.rounds:
        raise ValueError(
            f"budget of {budget} samples (rate={config.rate}, count={config.count}, pool "
            f"{pool_size}) cannot give each of the {config.rounds} rounds at least one sample"
        )
    return budget


def round_sizes(budget: int, rounds: int) -> list[int]:
    """``k_t`` per round: ``budget // rounds``, the first ``budget % rounds`` rounds one more."""
    base, extra = divmod(budget, rounds)
    return [base + (1 if t < extra else 0) for t in range(rounds)]


def _derived_seed(seed: int, round_index: int, stream: int) -> int:
    """A 31-bit seed for ``(run seed, round, stream)``; independent across the three."""
    return int(np.random.SeedSequence([seed, round_index, stream]).generate_state(1)[0] >> 1)


def _selection_rng(seed: int, round_index: int) -> np.random.Generator:
    return np.random.default_rng([seed, round_index, 0x5E1EC7])


class _RunDirectory:
    """Files of one run on any fsspec URI, each written atomically (temp name, then move)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.fs, self.path = resolve(uri)

    def join(self, name: str) -> str:
        return posixpath.join(self.path, name)

    def exists(self, name: str) -> bool:
        return self.fs.exists(self.join(name))

    def write(self, name: str, body: bytes) -> None:
        write_bytes(f"{self.uri}/{name}", body)

    def read(self, name: str) -> bytes:
        with self.fs.open(self.join(name), "rb") as handle:
            return handle.read()

    def write_json(self, name: str, body: Any) -> None:
        self.write(name, json.dumps(body, indent=2).encode())

    def read_json(self, name: str) -> Any:
        return json.loads(self.read(name))


def _round_name(round_index: int, suffix: str) -> str:
    return f"rounds/round-{round_index:04d}.{suffix}"


def _rows_table(round_index: int, rows: SelectedRows) -> pa.Table:
    k = len(rows.ids)
    columns = [
        pa.array(rows.ids, pa.int64()),
        pa.array(np.full(k, round_index), pa.int16()),
        pa.array(np.arange(k), pa.int32()),
        pa.array(rows.scores, pa.float64()),
        pa.array(rows.labels, pa.int16()),
        pa.array(rows.snr_db, pa.float32()),
    ]
    return pa.Table.from_arrays(columns, schema=MANIFEST_SCHEMA)


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _write_round(run: _RunDirectory, record: RoundRecord) -> None:
    """Metrics first, the parquet last: the parquet's presence marks the round complete."""
    run.write_json(_round_name(record.round, "json"), record.metrics)
    run.write(
        _round_name(record.round, "parquet"), _parquet_bytes(_rows_table(record.round, record.rows))
    )


def _read_rounds(run: _RunDirectory, sizes: list[int]) -> list[RoundRecord]:
    """The completed rounds 1..r found in the run directory (stops at the first gap)."""
    records = []
    for round_index in range(1, len(sizes) + 1):
        names = [_round_name(round_index, suffix) for suffix in ("json", "parquet")]
        if not all(run.exists(name) for name in names):
            break
        table = read_parquet(io.BytesIO(run.read(names[1])))
        rows = SelectedRows(
            table.column("id").to_numpy(),
            table.column("label").to_numpy().astype(np.int64),
            table.column("snr").to_numpy(),
            table.column("score").to_numpy(),
        )
        if len(rows.ids) != sizes[round_index - 1]:
            raise ValueError(
                f"{run.uri}: round {round_index} holds {len(rows.ids)} rows, the config asks "
                f"for {sizes[round_index - 1]}; use a new run directory"
            )
        records.append(RoundRecord(round_index, rows, run.read_json(names[0])))
    return records


def _comparable(config_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config_dict.items() if key not in RESUMABLE_CHANGES}


def _check_existing_run(run: _RunDirectory, config: ExpandConfig) -> bool:
    """True when ``run`` holds a run of this config (to resume); nothing is written.

    Raises:
        ValueError: the directory holds a run with a different config.
    """
    if not run.exists("config.yaml"):
        return False
    stored = yaml.safe_load(run.read("config.yaml"))
    # Settings added since the run started take their defaults; a config this version cannot
    # read is compared as stored (so it differs).
    with contextlib.suppress(KeyError, ValueError, TypeError):
        stored = ExpandConfig.from_dict(stored).to_dict()
    resolved = config.to_dict()
    if _comparable(stored) != _comparable(resolved):
        differing = sorted(
            key
            for key in set(stored) | set(resolved)
            if key not in RESUMABLE_CHANGES and stored.get(key) != resolved.get(key)
        )
        raise ValueError(
            f"{run.uri} holds a run with a different config (keys {differing} differ); "
            "resume with the same config or choose another --out"
        )
    return True


def _claim_run_directory(run: _RunDirectory, config: ExpandConfig, split: Split) -> None:
    """Write the resolved ``config.yaml`` and, once, ``splits.json``."""
    run.write("config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False).encode())
    if not run.exists("splits.json"):
        body = {
            "params": split.params,
            "test_ids": split.test_ids.tolist(),
            "target_ids": split.target_ids.tolist(),
            "pool_ids": split.pool_ids.tolist(),
        }
        run.write("splits.json", json.dumps(body).encode())


def _load_or_make_split(
    run: _RunDirectory, config: ExpandConfig, data: str, index: Frames, meta: DatasetMeta
) -> Split:
    """The run directory's split when resuming, else the configured file, else a new one."""
    if run.exists("splits.json") or config.split.file:
        where = f"{run.uri}/splits.json" if run.exists("splits.json") else config.split.file
        split = Split.load(where)
        check_split_dataset(split, meta, f"split file {where}")
        _check_split(split, index)
        return split
    if config.sources() is not None:
        provenance = read_frames(data, with_iq=False, extra=True)
        split = make_own_split(
            provenance,
            meta.num_classes,
            test=config.split.test,
            seed=config.seed,
            classes=meta.classes,
        )
        log.info(
            "split: test %d (%s), target %d, pool %d",
            len(split.test_ids),
            "the test set"
            if config.test
            else f"{split.params['test_per_class']} per class carved from the target",
            len(split.target_ids),
            len(split.pool_ids),
        )
    else:
        split = config.split.make(index, meta.num_classes, config.seed)
        split = _pool_snr_window(split, index, config)
    split = with_dataset(split, meta)
    _check_split(split, index)
    return split


def _pool_snr_window(split: Split, index: Frames, config: ExpandConfig) -> Split:
    """One-dataset mode: the pool without frames outside ``pool_snr_min_db/max_db``."""
    low, high = config.pool_snr_min_db, config.pool_snr_max_db
    if low is None and high is None:
        return split
    keep = in_snr_window(index.snr_db[np.searchsorted(index.ids, split.pool_ids)], low, high)
    log.info(
        "pool SNR window [%s, %s] dB keeps %d of %d pool frames", low, high, keep.sum(), len(keep)
    )
    params = {**split.params, "pool_snr_min_db": low, "pool_snr_max_db": high}
    return replace(split, pool_ids=split.pool_ids[keep], params=params)


def _prepare_data(run_dir: _RunDirectory, config: ExpandConfig) -> str:
    """The dataset the run trains and scores on: ``data``, or the own-data working set."""
    sources = config.sources()
    if sources is None:
        return config.data
    working = build_working_set(sources, f"{run_dir.uri}/data")
    run_dir.write_json("alignment.json", working.report)
    return working.uri


def _check_split(split: Split, index: Frames) -> None:
    """Disjoint parts, every id in the dataset, a non-empty target and pool.

    Raises:
        ValueError: naming the overlap or the missing ids.
    """
    parts = {"test": split.test_ids, "target": split.target_ids, "pool": split.pool_ids}
    for name, ids in parts.items():
        if len(np.unique(ids)) != len(ids):
            raise ValueError(f"split: the {name} ids repeat")
        missing = np.setdiff1d(ids, index.ids)
        if len(missing):
            raise ValueError(
                f"split: {len(missing)} {name} ids are not in the dataset, e.g. "
                f"{missing[:5].tolist()}"
            )
    for first, second in (("pool", "test"), ("pool", "target"), ("target", "test")):
        shared = np.intersect1d(parts[first], parts[second])
        if len(shared):
            raise ValueError(
                f"split: {len(shared)} {first} ids are also {second} ids, e.g. "
                f"{shared[:5].tolist()}"
            )
    for name in ("target", "pool"):
        if len(parts[name]) == 0:
            raise ValueError(f"split: the {name} set is empty")


def _make_scorer(config: ExpandConfig) -> Scorer:
    """A fresh scorer instance; parameter problems become ``ValueError``s naming the scorer.

    A scorer that takes a ``seed`` (``random``) gets the run's seed unless its parameters give
    one, so seeds of a benchmark draw different subsets even from the same pool.
    """
    params = dict(config.scorer_params)
    try:
        if "seed" in inspect.signature(scorer_class(config.scorer)).parameters:
            params.setdefault("seed", config.seed)
        return get_scorer(config.scorer, **params)
    except TypeError as error:
        raise ValueError(str(error)) from None


def _validate(config: ExpandConfig, meta: DatasetMeta, index: Frames, split: Split) -> list[int]:
    """Every check that needs no model training; returns the round sizes.

    Raises:
        KeyError: unknown scorer or model. ValueError: anything else, naming the key.
    """
    scorer = _make_scorer(config)
    for name in {config.model, config.eval_model or config.model}:
        spec = models.model_spec(name)
        if meta.length < spec.min_length:
            raise ValueError(
                f"model {name!r} needs frames of >= {spec.min_length} samples, "
                f"the dataset has L={meta.length}"
            )
    with torch.random.fork_rng():
        probe = models.build(config.model, meta.num_classes, meta.length)
    try:
        check_model_provides(probe, scorer.needs, scorer.name)
    except TypeError as error:
        raise ValueError(str(error)) from None
    sizes = round_sizes(budget_size(config, len(split.pool_ids)), config.rounds)
    if config.balanced:
        _check_balanced_budget(sizes, index, split, meta)
    return sizes


def _check_balanced_budget(
    sizes: list[int], index: Frames, split: Split, meta: DatasetMeta
) -> None:
    """Each class must hold enough pool rows for its largest quota in every round."""
    labels = index.labels[np.searchsorted(index.ids, split.pool_ids)]
    counts = np.bincount(labels, minlength=meta.num_classes)
    needed = sum(-(-k // meta.num_classes) for k in sizes)
    short = np.flatnonzero(counts < needed)
    if len(short):
        name = meta.classes[short[0]]
        raise ValueError(
            f"class-balanced budget needs up to {needed} pool samples of class {name!r}, the "
            f"pool holds {int(counts[short[0]])}"
        )


class _Run:
    """State shared by the rounds of one :func:`expand` call."""

    def __init__(
        self, config: ExpandConfig, data: str, meta: DatasetMeta, index: Frames, split: Split
    ):
        self.config = config
        self.data = data  # ``config.data``, or the own-data working set
        self.meta = meta
        self.index = index
        self.split = split

    def train_config(self, round_index: int, stream: int = 0, epochs: int | None = None):
        train = replace(
            self.config.train, seed=_derived_seed(self.config.seed, round_index, stream)
        )
        return train if epochs is None else replace(train, epochs=epochs)

    def fit(self, target_ids: np.ndarray, train: TrainConfig) -> FitResult:
        """A round model: trained, or loaded from ``fit_cache`` when trained there before."""
        if self.config.fit_cache is None:
            return fit(self.config.model, self.data, target_ids, train)
        key = json.dumps([self.config.model, self.data, asdict(train)], sort_keys=True)
        digest = hashlib.sha256(key.encode() + np.asarray(target_ids, np.int64).tobytes())
        cache = _RunDirectory(self.config.fit_cache)
        name = f"{digest.hexdigest()[:32]}.pt"
        if cache.exists(name):
            return FitResult.load(f"{cache.uri}/{name}")
        result = fit(self.config.model, self.data, target_ids, train)
        buffer = io.BytesIO()
        torch.save(asdict(result), buffer)  # FitResult.save's format, written atomically
        cache.write(name, buffer.getvalue())
        return result

    def rows_of(self, ids: np.ndarray, scores: np.ndarray) -> SelectedRows:
        positions = np.searchsorted(self.index.ids, ids)
        return SelectedRows(
            ids,
            self.index.labels[positions].astype(np.int64),
            self.index.snr_db[positions],
            scores,
        )


def _select_scores(run: _Run, scores: PoolScores, k: int, rng: np.random.Generator) -> SelectedRows:
    chosen = select(
        scores.ids,
        scores.scores,
        scores.labels,
        k,
        balanced=run.config.balanced,
        num_classes=run.meta.num_classes,
        rng=rng,
    )
    return run.rows_of(chosen, scores.scores[np.searchsorted(scores.ids, chosen)])


def _pointwise_round(run: _Run, scorer, target, selected, k, round_index, rng):
    """Fit, then score and select in one streaming pass (repeats: averaged full scores)."""
    config = run.config
    if scorer.repeats == 1 and scorer.warmup_epochs is None:
        model = run.fit(target, run.train_config(round_index))
        rows = score_and_select(
            model,
            run.data,
            run.split.pool_ids,
            scorer,
            k,
            balanced=config.balanced,
            num_classes=run.meta.num_classes,
            rng=rng,
            config=config.scoring,
            exclude=selected,
        )
        return rows, model
    repeat_scores, model = [], None
    for repeat in range(scorer.repeats):
        model = _warmup_model(run, target, round_index, repeat + 1, scorer.warmup_epochs)
        pool = score_pool(
            model, run.data, run.split.pool_ids, scorer, config.scoring, exclude=selected
        )
        repeat_scores.append(pool.scores)
    averaged = replace(pool, scores=average_repeats(repeat_scores))
    return _select_scores(run, averaged, k, rng), model


def _warmup_model(run: _Run, target, round_index: int, stream: int, epochs: int | None):
    """A repeat's model: trained ``epochs`` (None: as configured; 0: freshly initialised)."""
    if epochs == 0:
        torch_seed = _derived_seed(run.config.seed, round_index, stream)
        with torch.random.fork_rng():
            torch.manual_seed(torch_seed)
            model = models.build(run.config.model, run.meta.num_classes, run.meta.length)
        return FitResult(
            run.config.model, run.meta.num_classes, run.meta.length, model.state_dict()
        )
    return run.fit(target, run.train_config(round_index, stream, epochs))


def _dynamics_round(run: _Run, scorer: DynamicsScorer, target, selected, k, round_index, rng):
    """Train the round model, observing the pool after every epoch; then score and select."""
    config = run.config
    remaining = np.setdiff1d(run.split.pool_ids, selected)

    def observe(epoch: int, model: FitResult) -> None:
        for outputs, _ in pool_outputs(model, run.data, remaining, scorer, config.scoring):
            checked_observe(scorer, epoch, outputs)

    train = replace(run.train_config(round_index), workers=0)  # per-epoch hook: in-process
    model = fit(run.config.model, run.data, target, train, on_epoch=observe)
    scores = checked_dynamics_score(scorer, remaining)
    labels = run.index.labels[np.searchsorted(run.index.ids, remaining)].astype(np.int64)
    pool = PoolScores(remaining, labels, np.zeros(len(remaining), np.float32), scores)
    return _select_scores(run, pool, k, rng), model


def _set_round(run: _Run, selector: SetSelector, target, selected, k, round_index, rng):
    """Fit, gather the pool's features in one sharded pass, then the greedy selector picks."""
    config = run.config
    model = run.fit(target, run.train_config(round_index))
    parts = [
        outputs
        for outputs, _ in pool_outputs(
            model, run.data, run.split.pool_ids, selector, config.scoring, exclude=selected
        )
    ]
    features = ModelOutputs.concat(parts)
    features = features.subset(np.argsort(features.ids, kind="stable"))
    target_outputs = _target_outputs(run, model, target, selector)
    chosen = select_set(
        selector,
        features,
        k,
        balanced=config.balanced,
        num_classes=run.meta.num_classes,
        rng=rng,
        target=target_outputs,
    )
    return run.rows_of(chosen, np.full(k, np.nan)), model


def _target_outputs(run: _Run, model: FitResult, target: np.ndarray, scorer: Scorer):
    frames = read_frames(run.data, target)
    network = model.model()
    size = run.config.scoring.batch_size
    parts = [
        compute_outputs(
            network,
            frames.iq[start : start + size],
            frames.labels[start : start + size],
            scorer.needs,
            ids=frames.ids[start : start + size],
            scorer=scorer.name,
        )
        for start in range(0, len(frames), size)
    ]
    return ModelOutputs.concat(parts)


def _run_round(run: _Run, round_index: int, k: int, target, selected) -> RoundRecord:
    """One round: a fresh scorer, the kind's procedure, and the round's metrics."""
    scorer = _make_scorer(run.config)
    rng = _selection_rng(run.config.seed, round_index)
    procedure = {"pointwise": _pointwise_round, "dynamics": _dynamics_round, "set": _set_round}
    start = time.perf_counter()
    rows, model = procedure[scorer.kind](run, scorer, target, selected, k, round_index, rng)
    overlap = np.intersect1d(rows.ids, np.concatenate([target, selected]))
    if len(overlap) or len(np.unique(rows.ids)) != k:
        raise RuntimeError(f"round {round_index} selected repeated ids: {overlap[:5].tolist()}")
    last = model.history[-1] if model is not None and model.history else {}
    quality = model.quality if model is not None else None  # None: untrained or an old cache
    warnings = [quality["warning"]] if quality and quality["warning"] else []
    for warning in warnings:
        log.warning("round %d's model %s", round_index, warning)
    metrics = {
        "round": round_index,
        "k": k,
        "target_size_before": len(target),
        "pool_size_before": len(run.split.pool_ids) - len(selected),
        "train_accuracy": last.get("accuracy"),
        "train_loss": last.get("loss"),
        "seconds": round(time.perf_counter() - start, 3),
        "selected_per_class": np.bincount(rows.labels, minlength=run.meta.num_classes).tolist(),
        "model_quality": quality,
        "warnings": warnings,
    }
    return RoundRecord(round_index, rows, metrics)


def expand(
    config: ExpandConfig, *, on_round_end: Callable[[RoundRecord], None] | None = None
) -> ExpansionResult:
    """Run (or resume) the expansion loop and write the run directory.

    All input checks (scorer, model, budget, split) run before any training. A run directory
    that already holds rounds of the same config is resumed after its last completed round; one
    holding a different config is refused.

    Args:
        config: the run.
        on_round_end: called after each round is written (progress reports, Tune); an
            exception raised there stops the run with everything so far kept.

    Returns:
        The final target set, the manifest and the metrics.

    Raises:
        KeyError: unknown scorer, model or config key.
        ValueError: a bad budget, rate, split or config, a run directory of another config,
            an ``out`` inside a dataset, or another run holding ``out`` (its lock).
    """
    run_dir = _RunDirectory(config.out)
    _make_scorer(config)  # an unknown scorer fails before anything is read or written
    _check_out_is_not_a_dataset(config)
    resuming = _check_existing_run(run_dir, config)
    if config.sources() is None:
        run, sizes = _plan(run_dir, config, config.data)  # every check; nothing written yet
        with run_lock(config.out):
            return _execute(run, run_dir, sizes, resuming, on_round_end)
    with run_lock(config.out):  # own data: the working set is the first thing written
        run, sizes = _plan(run_dir, config, _prepare_data(run_dir, config))
        return _execute(run, run_dir, sizes, resuming, on_round_end)


def _plan(run_dir: _RunDirectory, config: ExpandConfig, data: str) -> tuple[_Run, list[int]]:
    """The run's dataset, split and round sizes, every check done (nothing is written)."""
    meta = read_meta(data)
    index = read_index(data)
    index = index.take(np.argsort(index.ids, kind="stable"))
    split = _load_or_make_split(run_dir, config, data, index, meta)
    sizes = _validate(config, meta, index, split)
    read_finite_frames(data, split.target_ids)  # test and pool are checked as they stream
    return _Run(config, data, meta, index, split), sizes


def _execute(run: _Run, run_dir: _RunDirectory, sizes: list[int], resuming: bool, on_round_end):
    """The rounds not done yet, then the final evaluation and report (lock held)."""
    config, split = run.config, run.split
    _remove_stale_staging(run_dir)
    _claim_run_directory(run_dir, config, split)
    records = _read_rounds(run_dir, sizes)
    if resuming:
        log.info("resuming %s after round %d of %d", config.out, len(records), len(sizes))
    for round_index in range(len(records) + 1, len(sizes) + 1):
        selected = _selected_ids(records)
        target = np.sort(np.concatenate([split.target_ids, selected]))
        log.info(
            "round %d/%d: target %d, pool %d, selecting %d with %s",
            round_index,
            len(sizes),
            len(target),
            len(split.pool_ids) - len(selected),
            sizes[round_index - 1],
            config.scorer,
        )
        record = _run_round(run, round_index, sizes[round_index - 1], target, selected)
        _write_round(run_dir, record)
        records.append(record)
        _write_manifest(run, run_dir, records)
        log.info("round %d/%d done in %.1f s", round_index, len(sizes), record.metrics["seconds"])
        if on_round_end is not None:
            on_round_end(record)
    _write_manifest(run, run_dir, records)
    return _finish(run, run_dir, records)


def _check_out_is_not_a_dataset(config: ExpandConfig) -> None:
    """``out`` must not be, or lie inside, one of the run's datasets."""
    _, out = resolve(config.out)
    datasets = {"data": config.data, "target": config.target, "pool": config.pool}
    for name, uri in {**datasets, "test": config.test}.items():
        if uri is None:
            continue
        _, path = resolve(uri)
        if out == path or out.startswith(path.rstrip("/") + "/"):
            raise ValueError(f"out {config.out} is inside the {name} dataset {uri}; choose another")


def _remove_stale_staging(run_dir: _RunDirectory) -> None:
    """Staging left by an interrupted earlier run (``.NAME.partial-*``); the lock is ours."""
    if not run_dir.fs.exists(run_dir.path):
        return
    for path in run_dir.fs.find(run_dir.path, withdirs=True, maxdepth=2):
        if ".partial-" in posixpath.basename(path) and run_dir.fs.exists(path):
            log.info("removing stale staging %s", path)
            run_dir.fs.rm(path, recursive=True)


def _selected_ids(records: list[RoundRecord]) -> np.ndarray:
    if not records:
        return np.zeros(0, np.int64)
    return np.concatenate([record.rows.ids for record in records]).astype(np.int64)


def _write_manifest(run: _Run, run_dir: _RunDirectory, records: list[RoundRecord]) -> None:
    """The selection so far, with each row's provenance (``source, source_id, source_class``)."""
    tables = [_rows_table(record.round, record.rows) for record in records]
    table = pa.concat_tables(tables) if tables else MANIFEST_SCHEMA.empty_table()
    ids = table.column("id").to_numpy()
    frames = read_frames(run.data, ids, with_iq=False, extra=True)
    provenance = provenance_of(frames, ids, run.meta)
    for name, values in provenance.items():
        table = table.append_column(name, pa.array(values, EXTRA_COLUMNS[name]))
    run_dir.write("manifest.parquet", _parquet_bytes(table))


def provenance_of(frames: Frames, ids: np.ndarray, meta: DatasetMeta) -> dict[str, np.ndarray]:
    """``source, source_id, source_class`` of ``ids``, from frames read with ``extra=True``.

    A working set stores them; in a plain dataset a frame's source is ``data`` and its source
    id and class are its own.
    """
    ids = np.asarray(ids, np.int64)
    order = np.argsort(frames.ids, kind="stable")
    positions = order[np.searchsorted(frames.ids[order], ids)]
    if frames.extra and "source" in frames.extra:
        return {name: frames.extra[name][positions] for name in PROVENANCE}
    labels = frames.labels[positions].astype(np.int64)
    return {
        "source": np.full(len(ids), "data", object),
        "source_id": ids,
        "source_class": np.asarray(meta.classes, object)[labels],
    }


def _finish(run: _Run, run_dir: _RunDirectory, records: list[RoundRecord]) -> ExpansionResult:
    """Final evaluation (unless done before), ``metrics.json`` and ``summary.md``."""
    config = run.config
    selected = _selected_ids(records)
    target = np.sort(np.concatenate([run.split.target_ids, selected]))
    previous = run_dir.read_json("metrics.json") if run_dir.exists("metrics.json") else {}
    final = previous.get("final")
    if config.evaluate and final is None:
        final = _evaluate_final(run, target)
    metrics = {
        "scorer": config.scorer,
        "model": config.model,
        "eval_model": config.eval_model or config.model,
        "balanced": config.balanced,
        "rounds": [record.metrics for record in records],
        "budget": int(sum(len(record.rows.ids) for record in records)),
        "rate": config.rate,
        "pool_size": len(run.split.pool_ids),
        "initial_target_size": len(run.split.target_ids),
        "final_target_size": len(target),
        "test_size": len(run.split.test_ids),
        "sources": config.sources().uris() if config.sources() else {"data": config.data},
        "alignment": _alignment_summary(run_dir),
        "final": final,
        "complete": True,
    }
    run_dir.write_json("metrics.json", metrics)
    run_dir.write("summary.md", _summary(config, metrics).encode())
    table = read_parquet(io.BytesIO(run_dir.read("manifest.parquet")))
    manifest = {name: table.column(name).to_numpy() for name in table.column_names}
    return ExpansionResult(config.out, target, selected, manifest, metrics)


def _alignment_summary(run_dir: _RunDirectory) -> dict[str, Any] | None:
    """Own-data mode: pool frames kept and left out, and target classes the pool lacks."""
    if not run_dir.exists("alignment.json"):
        return None
    pool = run_dir.read_json("alignment.json")["pool"]
    return {
        "pool_kept": int(sum(pool["kept_per_class"].values())),
        "pool_left_out": {k: int(sum(v.values())) for k, v in pool["left_out_per_class"].items()},
        "missing_target_classes": pool["missing_target_classes"],
    }


def _evaluate_final(run: _Run, target: np.ndarray) -> dict[str, Any]:
    config = run.config
    train = replace(config.eval_train or config.train, seed=_derived_seed(config.seed, 0, 0xE7A1))
    eval_model = config.eval_model or config.model
    log.info("evaluating: training %s on %d frames", eval_model, len(target))
    result = fit(eval_model, run.data, target, train)
    result.save(f"{config.out.rstrip('/')}/{MODEL_NAME}")  # the model to take away
    metrics = evaluate(result, run.data, run.split.test_ids, batch_size=config.scoring.batch_size)
    log.info("test accuracy %.4f on %d frames", metrics["accuracy"], metrics["n"])
    predicted = np.flatnonzero(np.asarray(metrics["confusion"]).sum(0))  # columns = predicted
    warnings = [result.quality["warning"]] if result.quality["warning"] else []
    if len(predicted) == 1:
        warnings.append(
            f"predicts a single class on the test set ({metrics['classes'][predicted[0]]})"
        )
    for warning in warnings:
        log.warning("the evaluation model %s", warning)
    metrics["model_quality"] = result.quality
    metrics["test_predicted_classes"] = len(predicted)
    metrics["warnings"] = warnings
    return metrics


def _summary(config: ExpandConfig, metrics: dict[str, Any]) -> str:
    """The run's markdown report."""
    budget = f"rate {config.rate}" if config.count is None else f"count {config.count}"
    on = ", ".join(f"{name} {uri}" for name, uri in metrics["sources"].items())
    lines = [
        f"# Expansion run: {config.scorer} on {on}",
        "",
        *_alignment_lines(metrics.get("alignment")),
        f"- model `{metrics['model']}`, evaluated with `{metrics['eval_model']}`",
        f"- {'class-balanced' if config.balanced else 'class-imbalanced'}, {budget} "
        f"({metrics['budget']} of {metrics['pool_size']} pool samples), "
        f"{len(metrics['rounds'])} round(s), seed {config.seed}",
        f"- target {metrics['initial_target_size']} -> {metrics['final_target_size']}, "
        f"test {metrics['test_size']}",
        *[
            f"- **Warning: round {record['round']}'s model {warning}**"
            for record in metrics["rounds"]
            for warning in record.get("warnings", [])  # absent in runs from before
        ],
        *[
            f"- **Warning: the evaluation model {warning}**"
            for warning in (metrics["final"] or {}).get("warnings", [])
        ],
        "",
        "| round | k | target before | train accuracy | seconds |",
        "|---|---|---|---|---|",
    ]
    for record in metrics["rounds"]:
        accuracy = record["train_accuracy"]
        shown = "-" if accuracy is None else f"{accuracy:.3f}"
        lines.append(
            f"| {record['round']} | {record['k']} | {record['target_size_before']} | "
            f"{shown} | {record['seconds']:.1f} |"
        )
    final = metrics["final"]
    if final:
        lines += [
            "",
            f"**Test accuracy: {final['accuracy']:.4f}** on {final['n']} frames",
            "",
            "| SNR (dB) | accuracy |",
            "|---|---|",
        ]
        lines += [f"| {snr} | {accuracy:.3f} |" for snr, accuracy in final["per_snr"].items()]
    return "\n".join(lines) + "\n"


def _alignment_lines(alignment: dict[str, Any] | None) -> list[str]:
    """Own-data mode: what the class map and SNR window did to the pool."""
    if not alignment:
        return []
    lines = [f"- pool frames used: {alignment['pool_kept']:,} (per class: alignment.json)"]
    lines += [
        f"- pool frames left out ({why}): {n:,}" for why, n in alignment["pool_left_out"].items()
    ]
    if alignment["missing_target_classes"]:
        lines.append(
            f"- **Warning: the pool has no frames of target classes "
            f"{alignment['missing_target_classes']}**"
        )
    return lines
