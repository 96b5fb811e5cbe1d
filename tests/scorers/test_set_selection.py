"""Herding and Glister: hand-computed greedy orders, the mean-matching property, the update."""

from __future__ import annotations

import numpy as np
import pytest

from engine.selection import select_set
from scorers import ModelOutputs, checked_select, get_scorer
from scorers.set_selection import glister_order, herding_order


def test_herding_order_by_hand():
    # points 0, 1, 2, 3, 10; mean 3.2. Step t picks x minimising |t * 3.2 - sum(S) - x|:
    # t=1: 3.2 -> 3;  t=2: 6.4 - 3 = 3.4 -> 2;  t=3: 9.6 - 5 = 4.6 -> 1 (|1-4.6| = 3.6 beats
    # |0-4.6| = 4.6 and |10-4.6| = 5.4);  t=4: 12.8 - 6 = 6.8 -> 10 (3.2 beats 6.8).
    points = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    order = herding_order(points, 4, np.random.default_rng(0))
    assert order.tolist() == [3, 2, 1, 4]  # DeepCore's argmax would start with 10 (position 4)


def test_herding_matches_the_mean_better_than_random_picks():
    points = np.random.default_rng(0).standard_normal((300, 8))
    mean = points.mean(axis=0)
    outputs = ModelOutputs(np.arange(300) + 1000, np.zeros(300), embedding=points)
    picked = checked_select(get_scorer("herding"), outputs, 10, np.random.default_rng(0))
    herding_error = np.linalg.norm(points[picked - 1000].mean(axis=0) - mean)
    random_errors = [
        np.linalg.norm(
            points[np.random.default_rng(s).choice(300, 10, replace=False)].mean(0) - mean
        )
        for s in range(200)
    ]
    assert herding_error < 0.5 * min(random_errors)  # about 0.11 vs at best 0.46


def test_herding_ties_are_broken_by_the_rng():
    points = np.array([[1.0], [1.0], [-1.0], [-1.0]])  # every first pick is equally good
    firsts = {int(herding_order(points, 1, np.random.default_rng(s))[0]) for s in range(40)}
    assert firsts == {0, 1, 2, 3}


def test_balanced_herding_matches_each_class_mean():
    # class 0 mean 1 -> picks the point at 1; class 1 mean 10 -> picks 10
    points = np.array([[0.0], [1.0], [2.0], [9.0], [10.0], [11.0]])
    outputs = ModelOutputs(np.arange(6), [0, 0, 0, 1, 1, 1], embedding=points)
    picked = select_set(
        get_scorer("herding"),
        outputs,
        2,
        balanced=True,
        num_classes=2,
        rng=np.random.default_rng(0),
    )
    assert picked.tolist() == [1, 4]


# Glister case, d=1, C=2, every label 0, step_size 1.
# Validation v1 (e=+1), v2 (e=-1), logits 0 -> residual p - y = (-0.5, 0.5) for both, so the
# mean validation gradient G has no weight part: G = [[0, -0.5], [0, 0.5]] (columns [e, bias]).
# For C=2 with p - y = (s, -s): gain_i = 2 s_i (G_0 . [e_i, 1]).
# Pool A1 (e=2, p0=0.2), A2 (e=2, p0=0.25), B (e=-1, p0=0.3): s = -0.8, -0.75, -0.7,
# initial gains 0.8, 0.75, 0.7 -> A1 first.
# Update: mean g_S = g_A1 = (-0.8, 0.8) outer (2, 1); validation logits become
# v1: z = (2.4, -2.4) -> residual (-0.00816, 0.00816); v2: z = (-0.8, 0.8) -> (-0.83202, 0.83202).
# G_0 = (mean r0 e, mean r0) = (0.41193, -0.42009):
# A2: 2 (-0.75) (0.82386 - 0.42009) = -0.6057;  B: 2 (-0.7) (-0.41193 - 0.42009) = +1.1648.
# So with the update B comes second; without it (step 0) A2 does (0.75 > 0.7).
POOL_EMBEDDING = np.array([[2.0], [2.0], [-1.0]])
POOL_PROBS = np.array([[0.2, 0.8], [0.25, 0.75], [0.3, 0.7]])
TARGET_EMBEDDING = np.array([[1.0], [-1.0]])
TARGET_LOGITS = np.zeros((2, 2))


def _glister(step_size: float, k: int = 3) -> list[int]:
    return glister_order(
        POOL_EMBEDDING,
        POOL_PROBS,
        np.zeros(3, dtype=int),
        TARGET_EMBEDDING,
        TARGET_LOGITS,
        np.zeros(2, dtype=int),
        k,
        np.random.default_rng(0),
        step_size=step_size,
    ).tolist()


def test_glister_update_changes_later_picks():
    assert _glister(step_size=0.0) == [0, 1, 2]  # static ranking: A1, A2, B
    assert _glister(step_size=1.0) == [0, 2, 1]  # after the simulated step: A1, B, A2


def test_glister_selector_uses_the_target_set():
    pool = ModelOutputs(
        [100, 101, 102], [0, 0, 0], embedding=POOL_EMBEDDING, probs=POOL_PROBS, logits=POOL_PROBS
    )
    target = ModelOutputs(
        [1, 2], [0, 0], embedding=TARGET_EMBEDDING, probs=np.full((2, 2), 0.5), logits=TARGET_LOGITS
    )
    rng = np.random.default_rng(0)
    selector = get_scorer("glister", step_size=1.0, batch_size=1)
    assert checked_select(selector, pool, 2, rng, target=target).tolist() == [100, 102]
    # the default step, 0.1 / 128, is too small to reorder this tiny case
    default = get_scorer("glister")
    assert checked_select(default, pool, 2, rng, target=target).tolist() == [100, 101]
    static = get_scorer("glister", step_size=0.0)
    assert checked_select(static, pool, 2, rng, target=target).tolist() == [100, 101]
    with pytest.raises(ValueError, match=r"'glister'.*target"):
        checked_select(selector, pool, 2, rng, target=None)


def test_glister_refreshing_less_often_is_the_static_ranking_between_refreshes():
    order = glister_order(
        POOL_EMBEDDING,
        POOL_PROBS,
        np.zeros(3, dtype=int),
        TARGET_EMBEDDING,
        TARGET_LOGITS,
        np.zeros(2, dtype=int),
        3,
        np.random.default_rng(0),
        step_size=1.0,
        update_every=3,
    )
    assert order.tolist() == [0, 1, 2]


def test_glister_parameters_are_checked():
    with pytest.raises(ValueError, match=r"'glister'.*step_size"):
        get_scorer("glister", step_size=-1.0)
    with pytest.raises(ValueError, match=r"'glister'.*update_every"):
        get_scorer("glister", update_every=0)
    with pytest.raises(ValueError, match=r"'glister'.*batch_size"):
        get_scorer("glister", batch_size=0)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(_softmax(logits)[np.arange(len(labels)), labels]).mean())


def _relu_problem():
    """4 classes of ReLU features (d=32, mean squared norm about 500, as a CNN's penultimate
    layer) and a softmax layer fitted on the pool: validation loss about 1."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0.0, 1.0, (4, 32))

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 4, count)
        return np.maximum(0.0, 3 * (centers[labels] + rng.normal(0, 2.5, (count, 32)))), labels

    (pool_embedding, pool_labels), (target_embedding, target_labels) = draw(400), draw(200)
    pool_inputs = np.hstack([pool_embedding, np.ones((400, 1))])
    weight = np.zeros((4, 33))
    for _ in range(50):
        residual = _softmax(pool_inputs @ weight.T) - np.eye(4)[pool_labels]
        weight -= 0.001 * residual.T @ pool_inputs / 400
    target_inputs = np.hstack([target_embedding, np.ones((200, 1))])
    pool = ModelOutputs(
        np.arange(400),
        pool_labels,
        embedding=pool_embedding,
        probs=_softmax(pool_inputs @ weight.T),
        logits=pool_inputs @ weight.T,
    )
    target = ModelOutputs(
        np.arange(200) + 1000,
        target_labels,
        embedding=target_embedding,
        probs=_softmax(target_inputs @ weight.T),
        logits=target_inputs @ weight.T,
    )
    return pool, target


def _loss_after_one_step(selector, pool: ModelOutputs, target: ModelOutputs) -> float:
    """Validation loss at theta - step * g_first, g_first the first pick's last-layer gradient."""
    first = int(checked_select(selector, pool, 1, np.random.default_rng(0), target=target)[0])
    inputs = np.hstack([pool.embedding[first], 1.0])
    gradient = np.outer(pool.probs[first] - np.eye(4)[pool.labels[first]], inputs)
    target_inputs = np.hstack([target.embedding, np.ones((len(target), 1))])
    step = selector.step_size / selector.batch_size
    return _cross_entropy(target.logits - step * target_inputs @ gradient.T, target.labels)


def test_glister_default_step_keeps_the_validation_loss_in_range():
    pool, target = _relu_problem()
    before = _cross_entropy(target.logits, target.labels)
    assert 0.8 < before < 1.3
    after = _loss_after_one_step(get_scorer("glister"), pool, target)
    assert after <= 1.5 * before
    # the old step (0.1 on per-sample gradients, no 1 / batch) blows the loss up
    unscaled = _loss_after_one_step(get_scorer("glister", batch_size=1), pool, target)
    assert unscaled > 10 * before
