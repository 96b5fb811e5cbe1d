"""Forgetting on a crafted correctness history (1 = correct), 5 epochs:

    id 40   1 0 1 0 1   2 forgetting events
    id 10   1 1 1 1 1   0
    id 30   0 0 0 0 0   never learned: 5 (= observations) with "first", 0 with "zero"
    id 20   0 1 0 0 1   1

Correct is argmax(logits) == label, so each epoch's logits are one-hot on the label (correct)
or on the next class (wrong).
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.selection import select
from scorers import ModelOutputs, checked_dynamics_score, checked_observe, get_scorer
from scorers.dynamics import count_forgetting

IDS = np.array([40, 10, 30, 20])
LABELS = np.array([0, 0, 1, 2])
HISTORY = np.array([[1, 0, 1, 0, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [0, 1, 0, 0, 1]], dtype=bool)


def _epoch_outputs(epoch: int, rows: np.ndarray) -> ModelOutputs:
    predicted = np.where(HISTORY[rows, epoch], LABELS[rows], (LABELS[rows] + 1) % 3)
    return ModelOutputs(IDS[rows], LABELS[rows], logits=np.eye(3)[predicted])


def _observed(never_learned: str = "first"):
    scorer = get_scorer("forgetting", never_learned=never_learned)
    for epoch in range(HISTORY.shape[1]):
        # two batches per epoch, in a different order each epoch
        rows = np.roll(np.arange(4), epoch)
        checked_observe(scorer, epoch, _epoch_outputs(epoch, rows[:2]))
        checked_observe(scorer, epoch, _epoch_outputs(epoch, rows[2:]))
    return scorer


def test_count_forgetting():
    np.testing.assert_array_equal(count_forgetting(HISTORY), [2, 0, 0, 1])


def test_never_learned_rank_first_by_default():
    scores = checked_dynamics_score(_observed(), IDS)
    np.testing.assert_array_equal(scores, [2.0, 0.0, 5.0, 1.0])
    rng = np.random.default_rng(0)
    assert select(IDS, scores, LABELS, 1, balanced=False, num_classes=3, rng=rng).tolist() == [30]
    # class 0 = {40, 10} takes 40; class 1 = {30}; class 2 = {20}
    assert select(IDS, scores, LABELS, 3, balanced=True, num_classes=3, rng=rng).tolist() == [
        30,
        40,
        20,
    ]


def test_never_learned_zero_follows_deepcore():
    scores = checked_dynamics_score(_observed("zero"), IDS)
    np.testing.assert_array_equal(scores, [2.0, 0.0, 0.0, 1.0])
    rng = np.random.default_rng(0)
    assert select(IDS, scores, LABELS, 1, balanced=False, num_classes=3, rng=rng).tolist() == [40]


def test_scores_follow_the_requested_ids():
    scorer = _observed()
    np.testing.assert_array_equal(checked_dynamics_score(scorer, [20, 40]), [1.0, 2.0])


def test_a_skipped_epoch_compares_consecutive_observations():
    scorer = get_scorer("forgetting")
    correct = ModelOutputs([5], [0], logits=np.array([[1.0, 0.0]]))
    wrong = ModelOutputs([5], [0], logits=np.array([[0.0, 1.0]]))
    scorer.observe(0, correct)
    scorer.observe(3, wrong)  # epochs 1-2 not observed: still one 1 -> 0 transition
    np.testing.assert_array_equal(scorer.score(np.array([5])), [1.0])


def test_misuse_is_an_error_naming_the_scorer():
    scorer = get_scorer("forgetting")
    with pytest.raises(ValueError, match=r"'forgetting'.*before any observe"):
        scorer.score(np.array([1]))
    scorer.observe(2, _epoch_outputs(0, np.arange(4)))
    with pytest.raises(ValueError, match=r"'forgetting'.*epoch 1 observed after epoch 2"):
        scorer.observe(1, _epoch_outputs(1, np.arange(4)))
    with pytest.raises(ValueError, match=r"never observed: \[99\]"):
        scorer.score(np.array([10, 99]))
    scorer.observe(3, _epoch_outputs(0, np.arange(2)))
    scorer.observe(3, _epoch_outputs(0, np.arange(2)))
    with pytest.raises(ValueError, match="more than once"):
        scorer.score(IDS)
    with pytest.raises(ValueError, match=r"'forgetting'.*never_learned"):
        get_scorer("forgetting", never_learned="last")
