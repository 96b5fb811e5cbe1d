"""Golden tests for duse, least_confidence, entropy and margin on hand-computed probabilities.

Four samples, three classes, labels [0, 1, 2, 0]:

    A = [0.5, 0.3, 0.2]    margin 0.2   1 - max 0.5   entropy 1.029653
    B = [0.4, 0.4, 0.2]    margin 0.0   1 - max 0.6   entropy 1.054920
    C = [0.9, 0.05, 0.05]  margin 0.85  1 - max 0.1   entropy 0.394398
    D = [0.2, 0.1, 0.7]    margin 0.5   1 - max 0.3   entropy 0.801819

Balanced selection with k=3 takes one sample per class: class 0 chooses between A and D,
class 1 is B, class 2 is C; the three are returned by score descending.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.selection import select
from scorers import ModelOutputs, checked_score, get_scorer
from scorers.uncertainty import entropy, least_confidence, top2_margin

PROBS = np.array([[0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.9, 0.05, 0.05], [0.2, 0.1, 0.7]])
IDS = np.array([100, 101, 102, 103])  # A, B, C, D
LABELS = np.array([0, 1, 2, 0])
A, B, C, D = IDS


def _outputs() -> ModelOutputs:
    return ModelOutputs(IDS, LABELS, probs=PROBS)


def _select(scores: np.ndarray, k: int, balanced: bool) -> list[int]:
    rng = np.random.default_rng(0)
    return select(IDS, scores, LABELS, k, balanced=balanced, num_classes=3, rng=rng).tolist()


def test_pure_functions():
    np.testing.assert_allclose(top2_margin(PROBS), [0.2, 0.0, 0.85, 0.5], atol=1e-12)
    np.testing.assert_allclose(least_confidence(PROBS), [0.5, 0.6, 0.1, 0.3], atol=1e-12)
    expected = [
        -(0.5 * np.log(0.5) + 0.3 * np.log(0.3) + 0.2 * np.log(0.2)),
        -(2 * 0.4 * np.log(0.4) + 0.2 * np.log(0.2)),
        -(0.9 * np.log(0.9) + 2 * 0.05 * np.log(0.05)),
        -(0.2 * np.log(0.2) + 0.1 * np.log(0.1) + 0.7 * np.log(0.7)),
    ]
    np.testing.assert_allclose(entropy(PROBS), expected, rtol=1e-12)
    np.testing.assert_allclose(entropy(PROBS), [1.029653, 1.054920, 0.394398, 0.801819], atol=1e-6)
    assert entropy(np.array([[1.0, 0.0, 0.0]]))[0] == 0.0  # 0 ln 0 = 0, not NaN
    with pytest.raises(ValueError, match="C>=2"):
        top2_margin(np.ones((3, 1)))


@pytest.mark.parametrize("name", ["margin", "duse"])
def test_smallest_margin_first_in_both_modes(name):
    scores = checked_score(get_scorer(name), _outputs())
    np.testing.assert_allclose(scores, [-0.2, 0.0, -0.85, -0.5], atol=1e-12)
    assert _select(scores, 1, balanced=False) == [B]
    assert _select(scores, 2, balanced=False) == [B, A]
    # class 0 takes A (margin 0.2 < 0.5), the opposite end of DeepCore's balanced/global flip
    assert _select(scores, 3, balanced=True) == [B, A, C]


def test_duse_largest_first_takes_the_confident_end():
    scores = checked_score(get_scorer("duse", order="largest_first"), _outputs())
    np.testing.assert_allclose(scores, [0.2, 0.0, 0.85, 0.5], atol=1e-12)
    assert _select(scores, 1, balanced=False) == [C]
    assert _select(scores, 3, balanced=True) == [C, D, B]


def test_least_confidence():
    scores = checked_score(get_scorer("least_confidence"), _outputs())
    np.testing.assert_allclose(scores, [0.5, 0.6, 0.1, 0.3], atol=1e-12)
    assert _select(scores, 1, balanced=False) == [B]
    assert _select(scores, 3, balanced=True) == [B, A, C]


def test_entropy():
    scores = checked_score(get_scorer("entropy"), _outputs())
    np.testing.assert_allclose(scores, [1.029653, 1.054920, 0.394398, 0.801819], atol=1e-6)
    assert _select(scores, 1, balanced=False) == [B]
    assert _select(scores, 2, balanced=False) == [B, A]
    assert _select(scores, 3, balanced=True) == [B, A, C]


def test_duse_rejects_an_unknown_order():
    with pytest.raises(ValueError, match=r"'duse'.*order"):
        get_scorer("duse", order="descending")
