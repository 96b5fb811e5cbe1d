"""Selection policy, apart from scoring: global top-k or exact per-class quotas.

Scores follow one convention, **higher = select first**; nothing here reinterprets them.
Ties are broken by the seeded ``rng``; ``k`` outside ``[1, pool]`` is an error, never clipped.
"""

from __future__ import annotations

import numpy as np

from scorers import ModelOutputs, SetSelector, checked_select

__all__ = ["class_quotas", "select", "select_set", "top_k"]


def _check_k(k: int, n: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise TypeError(f"k must be an integer, got {k!r}")
    if k <= 0:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"k={k} is larger than the pool ({n} samples)")


def top_k(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first; ties broken at random by ``rng``.

    ``np.argpartition`` finds the k-th largest value in O(n); only the ``k`` chosen positions
    are sorted. Among samples tied at that value, which ones make the cut is a uniform draw, and
    the order within any tie is random too.

    Args:
        scores: ``[n]`` finite floats.
        k: ``1 <= k <= n``.
        rng: the tie-breaker.

    Returns:
        ``[k]`` int64 positions, by score descending.
    """
    scores = np.asarray(scores, dtype=np.float64)
    _check_k(k, len(scores))
    n = len(scores)
    if k == n:
        chosen = np.arange(n)
    else:
        threshold = scores[np.argpartition(scores, n - k)[n - k]]  # the k-th largest score
        above = np.flatnonzero(scores > threshold)
        tied = np.flatnonzero(scores == threshold)
        chosen = np.concatenate([above, rng.choice(tied, k - len(above), replace=False)])
    jitter = rng.random(len(chosen))
    return chosen[np.lexsort((jitter, -scores[chosen]))].astype(np.int64)


def class_quotas(counts: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Exact per-class quotas summing to ``k``: ``k // C`` each, the remainder to random classes.

    The ``k % C`` extra samples go to distinct classes drawn by ``rng`` among those with more
    than ``k // C`` candidates.

    Args:
        counts: ``[C]`` candidates per class.
        k: total budget, ``1 <= k <= sum(counts)``.
        rng: draws the classes that get the remainder.

    Returns:
        ``[C]`` int64 quotas.

    Raises:
        ValueError: a class has fewer candidates than its quota (the message names it), or
            too few classes can take the remainder.
    """
    counts = np.asarray(counts, dtype=np.int64)
    _check_k(k, int(counts.sum()))
    num_classes = len(counts)
    base, remainder = divmod(k, num_classes)
    short = np.flatnonzero(counts < base)
    if len(short):
        raise ValueError(
            f"class-balanced selection of k={k} over {num_classes} classes needs {base} per "
            f"class, but class {int(short[0])} has only {int(counts[short[0]])} candidates"
        )
    quotas = np.full(num_classes, base, dtype=np.int64)
    spare = np.flatnonzero(counts > base)
    if remainder > len(spare):
        raise ValueError(
            f"class-balanced selection of k={k}: {remainder} classes must take {base + 1} "
            f"samples but only {len(spare)} have that many candidates"
        )
    quotas[rng.choice(spare, remainder, replace=False)] += 1
    return quotas


def _check_labels(labels: np.ndarray, n: int, num_classes: int | None) -> np.ndarray:
    """Labels as int64 ``[n]``; in ``[0, num_classes)`` unless ``num_classes`` is None."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    if num_classes is not None and n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]"
        )
    return labels


def select(
    ids: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    k: int,
    *,
    balanced: bool,
    num_classes: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The ``k`` ids to select, in selection order (highest score first).

    Args:
        ids: ``[n]`` global ids of the pool.
        scores: ``[n]`` finite scores, higher = select first.
        labels: ``[n]`` labels in ``[0, num_classes)`` (read only when ``balanced``).
        k: how many, ``1 <= k <= n``.
        balanced: ``False``: the global top-k (class-imbalanced). ``True``: the top
            ``quota_c`` of each class with exact quotas from :func:`class_quotas`; the union is
            returned by score descending.
        num_classes: ``C``.
        rng: breaks ties and places the quota remainder.

    Returns:
        ``[k]`` int64 ids.

    Raises:
        ValueError: ``k`` out of range, mismatched shapes, non-finite scores, labels out of
            range, or a class short of its quota.
    """
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(ids)
    if ids.ndim != 1 or scores.shape != (n,):
        raise ValueError(
            f"ids and scores must both have shape [n]; got {ids.shape}, {scores.shape}"
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    labels = _check_labels(labels, n, num_classes if balanced else None)
    _check_k(k, n)
    if not balanced:
        return ids[top_k(scores, k, rng)]
    quotas = class_quotas(np.bincount(labels, minlength=num_classes), k, rng)
    chosen = [
        members[top_k(scores[members], quota, rng)]
        for _, members, quota in _class_members(labels, quotas)
    ]
    positions = np.concatenate(chosen)
    jitter = rng.random(len(positions))
    return ids[positions[np.lexsort((jitter, -scores[positions]))]]


def _class_members(labels: np.ndarray, quotas: np.ndarray):
    """``(c, positions of class c, quota_c)`` for every class with a positive quota."""
    for label, quota in enumerate(quotas):
        if quota > 0:
            yield label, np.flatnonzero(labels == label), int(quota)


def select_set(
    selector: SetSelector,
    features: ModelOutputs,
    k: int,
    *,
    balanced: bool,
    num_classes: int,
    rng: np.random.Generator,
    target: ModelOutputs | None = None,
) -> np.ndarray:
    """The ``k`` ids a set selector picks, through the same quota logic as :func:`select`.

    Balanced: the selector runs once per class on that class's pool rows (and target rows)
    with that class's quota; the result is the classes' picks concatenated in class order, each
    in the selector's pick order. Every call is validated by ``scorers.checked_select``.

    Args:
        selector: the set selector.
        features: the pool's outputs for ``selector.needs``.
        k: how many, ``1 <= k <= len(features)``.
        balanced: per-class quotas or one global run.
        num_classes: ``C``.
        rng: breaks ties and places the quota remainder.
        target: the target set's outputs for the same needs, or ``None``.

    Returns:
        ``[k]`` int64 ids.
    """
    labels = _check_labels(features.labels, len(features), num_classes)
    _check_k(k, len(features))
    if not balanced:
        return checked_select(selector, features, k, rng, target=target)
    quotas = class_quotas(np.bincount(labels, minlength=num_classes), k, rng)
    picks = []
    for label, members, quota in _class_members(labels, quotas):
        class_target = None if target is None else target.subset(target.labels == label)
        picks.append(
            checked_select(selector, features.subset(members), quota, rng, target=class_target)
        )
    return np.concatenate(picks)
