"""Forgetting on a crafted correctness history (1 = correct), 5 epochs:

    id 40   1 0 1 0 1   2 forgetting events
    id 10   1 1 1 1 1   0
    id 30   0 0 0 0 0   never learned: 5 (= observations) with "first", 0 with "zero"
    id 20   0 1 0 0 1   1

Correct is argmax(logits) == label, so each epoch's logits are one-hot on the label (correct)
or on the next class (wrong). The loss is then log(1 + 2/e) = 0.5514 when correct and
1 + log(1 + 2/e) = 1.5514 when wrong, so u = loss / (1 + loss) = 0.35544 or 0.60807; the
tie-break key (first learned + u) / (presentations + 2) at the last epoch (40, 10, 20 correct,
30 wrong) is 0.35544 / 7 for 40 and 10 (learned at 0), (1 + 0.35544) / 7 for 20 and
(5 + 0.60807) / 7 for 30 (never learned counts as learned at presentation 5).
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.selection import select
from scorers import ModelOutputs, checked_dynamics_score, checked_observe, get_scorer
from scorers.dynamics import count_forgetting, cross_entropy, tie_break_key

U_CORRECT = np.log1p(2 / np.e) / (1 + np.log1p(2 / np.e))
U_WRONG = (1 + np.log1p(2 / np.e)) / (2 + np.log1p(2 / np.e))
KEYS = np.array([U_CORRECT, U_CORRECT, 5 + U_WRONG, 1 + U_CORRECT]) / 7

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
    np.testing.assert_allclose(scores, np.array([2.0, 0.0, 5.0, 1.0]) + KEYS, rtol=1e-12)
    np.testing.assert_allclose(KEYS, [0.050777, 0.050777, 0.801152, 0.193634], atol=1e-6)
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
    np.testing.assert_allclose(scores, np.array([2.0, 0.0, 0.0, 1.0]) + KEYS, rtol=1e-12)
    rng = np.random.default_rng(0)
    assert select(IDS, scores, LABELS, 1, balanced=False, num_classes=3, rng=rng).tolist() == [40]


def test_scores_follow_the_requested_ids():
    scorer = _observed()
    np.testing.assert_allclose(
        checked_dynamics_score(scorer, [20, 40]), [1.0 + KEYS[3], 2.0 + KEYS[0]], rtol=1e-12
    )


def test_a_skipped_epoch_compares_consecutive_observations():
    scorer = get_scorer("forgetting")
    correct = ModelOutputs([5], [0], logits=np.array([[1.0, 0.0]]))
    wrong = ModelOutputs([5], [0], logits=np.array([[0.0, 1.0]]))
    scorer.observe(0, correct)
    scorer.observe(3, wrong)  # epochs 1-2 not observed: still one 1 -> 0 transition
    np.testing.assert_array_equal(np.floor(scorer.score(np.array([5]))), [1.0])


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


def test_cross_entropy_by_hand():
    logits = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 40.0]])
    np.testing.assert_allclose(
        cross_entropy(logits, np.array([0, 0, 0])),
        [np.log(2), np.log1p(np.exp(-2)), 40 + np.log1p(np.exp(-40))],
        rtol=1e-12,
    )
    # a confident, correct sample keeps a tiny but nonzero loss (no 1 - 1 cancellation)
    assert cross_entropy(np.array([[30.0, 0.0]]), np.array([0]))[0] == np.log1p(np.exp(-30.0))


def test_tie_break_key_is_lexicographic_and_below_one():
    # first learned at 0, 0, 2, never (-1) over 3 presentations; losses 0.1, 0.9, 0.1, 1e300
    keys = tie_break_key(np.array([0, 0, 2, -1]), np.full(4, 3), np.array([0.1, 0.9, 0.1, 1e300]))
    np.testing.assert_allclose(keys, [(0 + 1 / 11) / 5, (0 + 0.9 / 1.9) / 5, (2 + 1 / 11) / 5, 0.8])
    assert np.all(np.diff(keys) > 0) and keys.max() < 1


def _tied_pool(epochs: int = 4):
    """60 frames: 40 never learned with distinct losses, 20 learned at epoch 0 and kept.

    Frame i's logits put ``i / 10`` on its label and 5 on the wrong class (never learned, loss
    falls with i) or 5 on the label (learned at once, never forgotten).
    """
    ids = np.arange(60) + 500
    labels = np.zeros(60, dtype=int)
    logits = np.zeros((60, 2))
    logits[:40, 1] = 5.0
    logits[:40, 0] = np.arange(40) / 10
    logits[40:, 0] = 5.0
    scorer = get_scorer("forgetting")
    for epoch in range(epochs):
        checked_observe(scorer, epoch, ModelOutputs(ids, labels, logits=logits))
    return scorer, ids, labels


def test_ties_on_the_count_are_ordered_by_the_loss_not_drawn():
    scorer, ids, labels = _tied_pool()
    scores = checked_dynamics_score(scorer, ids)
    np.testing.assert_array_equal(np.floor(scores), [4] * 40 + [0] * 20)  # primary order kept
    assert len(np.unique(scores[:40])) == 40  # before: all 40 tied at 4.0 (67 % of the pool)
    picks = [
        select(ids, scores, labels, 10, balanced=False, num_classes=2, rng=np.random.default_rng(s))
        for s in (0, 1)
    ]
    assert set(picks[0].tolist()) == set(picks[1].tolist()) == set(range(500, 510))  # highest loss
    assert picks[0].tolist() == picks[1].tolist() == list(range(500, 510))


def test_forgotten_ties_are_ordered_by_first_learned_then_loss():
    # 3 frames, each forgotten once over 4 epochs (1 = correct):
    #   id 1: 1 0 1 1  first learned at 0, final loss small
    #   id 2: 0 1 0 1  first learned at 1, final loss small
    #   id 3: 0 1 0 1  first learned at 1, final loss larger (a smaller margin)
    scorer = get_scorer("forgetting")
    history = np.array([[1, 0, 1, 1], [0, 1, 0, 1], [0, 1, 0, 1]], dtype=bool)
    margin = np.array([4.0, 4.0, 1.0])
    for epoch in range(4):
        logits = np.zeros((3, 2))
        logits[:, 0] = np.where(history[:, epoch], margin, -margin)
        checked_observe(
            scorer, epoch, ModelOutputs(np.array([1, 2, 3]), np.zeros(3), logits=logits)
        )
    scores = checked_dynamics_score(scorer, np.array([1, 2, 3]))
    np.testing.assert_array_equal(np.floor(scores), [1, 1, 1])
    assert np.argsort(-scores).tolist() == [2, 1, 0]  # id 3, id 2, id 1
