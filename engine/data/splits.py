"""Splits of a dataset into test, target and auxiliary-pool id lists (DESIGN.md, Data).

Order: SNR filter -> class-balanced test split -> class-balanced random *target* subset of the
training part -> the rest of the training part is the auxiliary *pool*. "Class-balanced" means
the same number of frames for every class; within a class the draw is spread evenly over the
SNR values (round-robin over SNR groups in random order), so small splits still cover every SNR.
Frames of unknown SNR (NaN) form one SNR group of their own; an SNR window (``snr_min_db`` /
``snr_max_db``) excludes them, since their SNR cannot be shown to lie inside it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import fsspec
import numpy as np

from engine._internal import seeds
from engine._internal.atomic import write_text
from engine._internal.seeds import Stream
from engine.data.schema import Frames

__all__ = [
    "MIN_TEST_PER_CLASS",
    "Split",
    "check_split_dataset",
    "dataset_identity",
    "make_own_split",
    "make_split",
    "with_dataset",
]

MIN_TEST_PER_CLASS = 5
MIN_TARGET_PER_CLASS = 5

log = logging.getLogger(f"duse.{__name__}")


@dataclass(frozen=True)
class Split:
    """Disjoint, sorted int64 id lists and the parameters that made them."""

    test_ids: np.ndarray
    target_ids: np.ndarray
    pool_ids: np.ndarray
    params: dict

    def save(self, uri: str) -> None:
        """Write as JSON (``splits.json``) to a path or fsspec URI.

        The write is atomic (:func:`engine._internal.atomic.write_bytes`): staged under a hidden
        sibling name, moved into place once complete, the staging removed on failure.
        """
        body = {
            "params": self.params,
            "test_ids": self.test_ids.tolist(),
            "target_ids": self.target_ids.tolist(),
            "pool_ids": self.pool_ids.tolist(),
        }
        write_text(uri, json.dumps(body))

    @classmethod
    def load(cls, uri: str) -> Split:
        with fsspec.open(uri, "r") as handle:
            body = json.load(handle)
        ids = {k: np.asarray(body[k], np.int64) for k in ("test_ids", "target_ids", "pool_ids")}
        return cls(params=body["params"], **ids)

    def summary(self) -> dict[str, int]:
        return {
            "test": len(self.test_ids),
            "target": len(self.target_ids),
            "pool": len(self.pool_ids),
        }


def _spread_order(snr_db: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions of one class in an order that cycles over its SNR groups, random within each."""
    order = rng.permutation(len(snr_db))
    # np.unique puts every NaN (unknown SNR) into one group (equal_nan, numpy >= 1.24)
    _, group = np.unique(snr_db[order], return_inverse=True)
    rank = np.empty(len(order), np.int64)
    for g in range(group.max() + 1):
        members = group == g
        rank[members] = np.arange(members.sum())
    group_priority = rng.permutation(group.max() + 1)[group]
    return order[np.lexsort((group_priority, rank))]


def _per_class_count(amount: float, smallest: int, num_classes: int, what: str) -> int:
    """Frames per class for ``amount`` (a fraction in (0, 1) or a total count >= 1)."""
    if amount <= 0:
        raise ValueError(f"{what} must be > 0, got {amount}")
    if amount < 1:
        count = int(amount * smallest)
    else:
        if amount != int(amount):
            raise ValueError(f"{what} must be a fraction in (0, 1) or a whole count, got {amount}")
        count = int(amount) // num_classes
    if count < 1:
        raise ValueError(f"{what}={amount} gives no frame per class ({num_classes} classes)")
    if count > smallest:
        raise ValueError(
            f"{what}={amount} needs {count} frames per class, the smallest has {smallest}"
        )
    return count


def _balanced_take(
    index: Frames, amount: float, num_classes: int, rng: np.random.Generator, what: str
) -> np.ndarray:
    """Positions of a class-balanced, SNR-spread draw of ``amount`` from ``index``."""
    present = np.unique(index.labels)
    if len(present) < num_classes:
        raise ValueError(f"{what}: only {len(present)} of {num_classes} classes have frames")
    by_class = [np.flatnonzero(index.labels == c) for c in range(num_classes)]
    count = _per_class_count(amount, min(map(len, by_class)), num_classes, what)
    taken = [members[_spread_order(index.snr_db[members], rng)[:count]] for members in by_class]
    return np.concatenate(taken)


def make_split(
    index: Frames,
    num_classes: int,
    *,
    test: float = 0.2,
    target: float = 0.01,
    snr_min_db: float | None = None,
    snr_max_db: float | None = None,
    seed: int = 0,
) -> Split:
    """Split a dataset index into test, target and pool ids.

    Args:
        index: ids, labels and SNRs of the dataset (``engine.data.store.read_index``).
        num_classes: classes in the dataset; each must keep frames after the SNR filter.
        test: test size, a fraction of the smallest class (< 1) or a total count (>= 1).
        target: target size, a fraction of the smallest class's training part or a count.
        snr_min_db: keep frames with SNR >= this (None: no lower bound). Frames of unknown
            (NaN) SNR are dropped whenever either bound is set (logged with their count).
        snr_max_db: keep frames with SNR <= this (None: no upper bound).
        seed: seed of the draws.

    Returns:
        The split; frames outside the SNR window are in none of the lists.

    Raises:
        ValueError: an impossible size, an empty class, or an empty SNR window.
    """
    rng = seeds.rng(seed, Stream.SPLIT)
    keep = np.ones(len(index), bool)
    if snr_min_db is not None:
        keep &= index.snr_db >= snr_min_db
    if snr_max_db is not None:
        keep &= index.snr_db <= snr_max_db
    unknown = int(np.isnan(index.snr_db).sum())
    if unknown and (snr_min_db is not None or snr_max_db is not None):
        log.warning(
            "SNR window [%s, %s] dB leaves out %d frames of unknown SNR",
            snr_min_db,
            snr_max_db,
            unknown,
        )
    if not keep.any():
        what = f" ({unknown} frames have an unknown SNR)" if unknown else ""
        raise ValueError(f"no frame has SNR in [{snr_min_db}, {snr_max_db}] dB{what}")
    kept = index.take(np.flatnonzero(keep))
    test_pos = _balanced_take(kept, test, num_classes, rng, "test")
    train = kept.take(np.setdiff1d(np.arange(len(kept)), test_pos))
    target_pos = _balanced_take(train, target, num_classes, rng, "target")
    pool_pos = np.setdiff1d(np.arange(len(train)), target_pos)
    params = {
        "test": test,
        "target": target,
        "snr_min_db": snr_min_db,
        "snr_max_db": snr_max_db,
        "seed": seed,
    }
    return Split(
        test_ids=np.sort(kept.ids[test_pos]),
        target_ids=np.sort(train.ids[target_pos]),
        pool_ids=np.sort(train.ids[pool_pos]),
        params=params,
    )


def make_own_split(
    index: Frames, num_classes: int, *, test: float = 0.2, seed: int = 0, classes=None
) -> Split:
    """Test, target and pool ids of a working set (``engine.data.align``) by its ``source``.

    Rows from a separate test set are the test split; otherwise a class-balanced test split is
    carved from the target: ``test`` is a fraction of the smallest target class (< 1) or a
    total count (>= 1), at least :data:`MIN_TEST_PER_CLASS` per class, and every class must
    keep :data:`MIN_TARGET_PER_CLASS` target frames. Every pool row is in the pool.

    Args:
        index: ids, labels, SNRs and the ``source`` column of the working set.
        num_classes: the target's classes.
        test: the carved test size (ignored when the working set has test rows).
        seed: seed of the draw.
        classes: class names, for the messages.

    Raises:
        ValueError: the target is too small to carve a test split from, naming the class.
    """
    source = index.extra["source"] if index.extra else None
    if source is None:
        raise ValueError("the dataset has no source column: it is not a working set")
    target = index.take(np.flatnonzero(source == "target"))
    pool_ids = np.sort(index.ids[source == "pool"])
    params = {"mode": "own data", "test": test, "seed": seed}
    if (source == "test").any():
        params["test"] = "test set"
        test_ids, target_ids = np.sort(index.ids[source == "test"]), np.sort(target.ids)
        return Split(test_ids, target_ids, pool_ids, params)
    names = classes or [str(c) for c in range(num_classes)]
    per_class = np.bincount(target.labels, minlength=num_classes)
    smallest = int(per_class.min())
    count = int(test * smallest) if test < 1 else int(test) // num_classes
    count = max(count, MIN_TEST_PER_CLASS)
    if smallest - count < MIN_TARGET_PER_CLASS:
        name = names[int(per_class.argmin())]
        raise ValueError(
            f"target class {name!r} has {smallest} frames: a test split of {count} per class "
            f"(test={test}, at least {MIN_TEST_PER_CLASS}) would leave fewer than "
            f"{MIN_TARGET_PER_CLASS} to train on; give a separate test set (--test) or more "
            "target frames"
        )
    rng = seeds.rng(seed, Stream.OWN_TEST_SPLIT)
    taken = [
        members[_spread_order(target.snr_db[members], rng)[:count]]
        for members in (np.flatnonzero(target.labels == c) for c in range(num_classes))
    ]
    test_pos = np.concatenate(taken)
    params["test_per_class"] = count
    test_ids = np.sort(target.ids[test_pos])
    target_ids = np.sort(np.setdiff1d(target.ids, test_ids))
    return Split(test_ids, target_ids, pool_ids, params)


def dataset_identity(meta) -> str:
    """SHA-256 of what makes a dataset itself: its classes, L and every shard's checksum."""
    import hashlib

    body = json.dumps([meta.classes, meta.length, [(s.name, s.sha256) for s in meta.shards]])
    return hashlib.sha256(body.encode()).hexdigest()


def with_dataset(split: Split, meta) -> Split:
    """The split with the identity of the dataset it was made from in its ``params``."""
    return Split(
        split.test_ids,
        split.target_ids,
        split.pool_ids,
        {**split.params, "dataset": dataset_identity(meta)},
    )


def check_split_dataset(split: Split, meta, what: str) -> None:
    """Refuse a split made from another dataset (same ids are not the same frames).

    Raises:
        ValueError: the split records another dataset's identity.
    """
    recorded = split.params.get("dataset")
    if recorded is None:
        log.warning("%s records no dataset identity (made by an older duse); not checked", what)
    elif recorded != dataset_identity(meta):
        raise ValueError(
            f"{what} was made from another dataset (its shards or classes differ); make a new "
            "split for this one (`duse data split`)"
        )
