"""Output validation, in one place: every scorer call the engine makes goes through these.

Each function checks the inputs a scorer declared are present, calls it, and checks what comes
back (shape ``[n]``, finite floats; or ``k`` distinct ids of the pool), with errors that name the
scorer.
"""

from __future__ import annotations

import numpy as np

from scorers.base import DynamicsScorer, ModelOutputs, Needs, PointwiseScorer, Scorer, SetSelector

__all__ = [
    "check_needs_present",
    "check_scores",
    "check_selection",
    "checked_dynamics_score",
    "checked_observe",
    "checked_score",
    "checked_select",
]


def _expect(scorer: Scorer, kind: type) -> None:
    if not isinstance(scorer, kind):
        raise TypeError(f"scorer {scorer.name!r} is a {scorer.kind} scorer, not a {kind.__name__}")


def check_needs_present(name: str, needs: Needs, outputs: ModelOutputs) -> None:
    """Raise ``ValueError`` naming scorer ``name`` if ``outputs`` lacks one of ``needs``."""
    missing = needs & ~outputs.provides()
    if missing:
        raise ValueError(
            f"scorer {name!r} needs {missing.names()} but the outputs provide only "
            f"{outputs.provides().names()}"
        )


def check_scores(name: str, scores: object, n: int) -> np.ndarray:
    """Scores as float64 ``[n]``; ``ValueError`` naming scorer ``name`` otherwise.

    Args:
        name: the scorer, for messages.
        scores: what it returned.
        n: the number of samples it was given.

    Returns:
        ``scores`` as a float64 array of shape ``[n]``.

    Raises:
        ValueError: wrong shape, not numeric, or NaN/infinite values (their count and first
            position are in the message).
    """
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"scorer {name!r} returned non-numeric scores: {error}") from None
    if array.shape != (n,):
        raise ValueError(f"scorer {name!r} returned scores of shape {array.shape}, expected ({n},)")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"scorer {name!r} returned {int(bad.sum())} non-finite scores "
            f"(first at position {int(np.argmax(bad))}: {array[bad][0]})"
        )
    return array


def check_selection(name: str, selected: object, ids: np.ndarray, k: int) -> np.ndarray:
    """Selected ids as int64 ``[k]``: distinct and all in ``ids``; ``ValueError`` otherwise."""
    array = np.asarray(selected)
    if array.shape != (k,) or (k and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(
            f"set selector {name!r} returned {array.shape} {array.dtype} values, expected {k} ids"
        )
    array = array.astype(np.int64)
    if len(np.unique(array)) != k:
        raise ValueError(f"set selector {name!r} returned repeated ids")
    unknown = ~np.isin(array, ids)
    if unknown.any():
        raise ValueError(
            f"set selector {name!r} returned ids not in the pool: {array[unknown][:5].tolist()}"
        )
    return array


def checked_score(scorer: PointwiseScorer, outputs: ModelOutputs) -> np.ndarray:
    """``scorer.score(outputs)`` validated: float64 ``[len(outputs)]``, finite."""
    _expect(scorer, PointwiseScorer)
    check_needs_present(scorer.name, scorer.needs, outputs)
    return check_scores(scorer.name, scorer.score(outputs), len(outputs))


def checked_observe(scorer: DynamicsScorer, epoch: int, outputs: ModelOutputs) -> None:
    """``scorer.observe(epoch, outputs)`` after checking its needs are present."""
    _expect(scorer, DynamicsScorer)
    check_needs_present(scorer.name, scorer.needs, outputs)
    scorer.observe(epoch, outputs)


def checked_dynamics_score(scorer: DynamicsScorer, ids: np.ndarray) -> np.ndarray:
    """``scorer.score(ids)`` validated: float64 ``[len(ids)]``, finite."""
    _expect(scorer, DynamicsScorer)
    ids = np.asarray(ids, dtype=np.int64)
    return check_scores(scorer.name, scorer.score(ids), len(ids))


def checked_select(
    selector: SetSelector,
    features: ModelOutputs,
    k: int,
    rng: np.random.Generator,
    *,
    target: ModelOutputs | None = None,
) -> np.ndarray:
    """``selector.select(...)`` validated: ``k`` distinct ids of ``features.ids``, int64."""
    _expect(selector, SetSelector)
    check_needs_present(selector.name, selector.needs, features)
    if target is not None:
        check_needs_present(selector.name, selector.needs, target)
    selected = selector.select(features, k, rng, target=target)
    return check_selection(selector.name, selected, features.ids, k)
