"""engine.zsl.evaluation: S, U, H and per-class metrics, the seen-unseen curve, the baseline."""

from __future__ import annotations

import numpy as np
import pytest

from engine.zsl import (
    best_gamma,
    compatibility_scores,
    harmonic_mean,
    prototype_baseline,
    seen_unseen_curve,
    zsl_metrics,
)
from engine.zsl.report import PAPER_TABLE5


@pytest.mark.parametrize("group", sorted(PAPER_TABLE5))
def test_harmonic_mean_reproduces_the_paper_table(group):
    seen, unseen, h, _ = PAPER_TABLE5[group]
    assert harmonic_mean(seen, unseen) == pytest.approx(h, abs=1e-4)


def test_harmonic_mean_edge_cases():
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert harmonic_mean(1.0, 0.0) == 0.0
    assert harmonic_mean(0.5, 0.5) == 0.5


def test_zsl_metrics_average_per_class_then_over_seen_and_unseen():
    truth = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 0, 0, 1, 1, 0, 2, 1])
    snr = np.array([0, 6, 0, 6, 0, 6, 0, 6], float)
    metrics = zsl_metrics(
        truth,
        predicted,
        snr,
        seen=[0, 1],
        unseen=[2],
        classes=["a", "b", "c"],
        confusion_snr_db=6.0,
    )
    assert metrics["seen_accuracy"] == pytest.approx((0.75 + 0.5) / 2)
    assert metrics["unseen_accuracy"] == pytest.approx(0.5)
    assert metrics["harmonic_mean"] == pytest.approx(harmonic_mean(0.625, 0.5))
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    assert metrics["per_snr"]["0"]["accuracy"] == 1.0
    assert metrics["confusion_at_snr"]["matrix"] == [[1, 1, 0], [1, 0, 0], [0, 1, 0]]
    assert np.sum(metrics["confusion"]) == 8


def _logits_with_gaps(truth, gaps, seen=(0, 1), unseen=(2,)):
    """Logits whose best seen class and best unseen class are right, seen ahead by ``gaps``."""
    logits = np.zeros((len(truth), 3))
    for row, (label, gap) in enumerate(zip(truth, gaps, strict=True)):
        best_seen = label if label in seen else seen[0]
        logits[row, best_seen] = gap
        logits[row, [c for c in seen if c != best_seen]] = gap - 10
        logits[row, unseen[0]] = 0.0
    return logits


def test_seen_unseen_curve_separates_bias_from_information():
    truth = np.array([0, 1] * 50 + [2] * 50)
    # biased but informative: every unseen frame's gap (3) is below every seen frame's (5)
    curve = seen_unseen_curve(
        _logits_with_gaps(truth, [5.0] * 100 + [3.0] * 50), truth, [0, 1], [2]
    )
    assert curve["ausuc"] == pytest.approx(1.0)
    assert (curve["seen_accuracy"][0], curve["unseen_accuracy"][0]) == (1.0, 0.0)  # plain argmax
    assert (curve["seen_accuracy"][-1], curve["unseen_accuracy"][-1]) == (0.0, 1.0)
    # uninformative: the gaps of seen and unseen frames come from one distribution
    gaps = np.random.default_rng(0).normal(2.0, 1.0, 150)
    curve = seen_unseen_curve(_logits_with_gaps(truth, gaps), truth, [0, 1], [2])
    assert 0.35 < curve["ausuc"] < 0.65


def test_prototype_baseline_predicts_by_nearest_semantic_vector():
    rng = np.random.default_rng(0)
    semantics = np.eye(3, dtype=np.float32)
    mix = rng.standard_normal((3, 8))
    features = lambda c, n: semantics[c] @ mix + 0.01 * rng.standard_normal((n, 8))  # noqa: E731
    train = np.concatenate([features(0, 20), features(1, 20)])
    labels = np.repeat([0, 1], 20)
    predicted = prototype_baseline(train, labels, semantics, features(1, 5))
    assert (predicted == 1).all()


def test_compatibility_scores_reach_an_unseen_class_between_seen_ones():
    # features are a linear image of the attributes; the unseen class D shares A's and B's
    rng = np.random.default_rng(0)
    semantics = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32)
    semantics /= np.linalg.norm(semantics, axis=1, keepdims=True)
    mix = rng.standard_normal((3, 16))
    frames = lambda c, n: semantics[c] @ mix + 0.01 * rng.standard_normal((n, 16))  # noqa: E731
    train = np.concatenate([frames(c, 30) for c in range(3)])
    labels = np.repeat([0, 1, 2], 30)
    test = np.concatenate([frames(c, 10) for c in range(4)])
    scores = compatibility_scores(train, labels, semantics, test, [0, 1, 2], 1e-3, 1e-3)
    assert scores.shape == (40, 4)
    np.testing.assert_array_equal(scores.argmax(1), np.repeat([0, 1, 2, 3], 10))
    # on seen frames the fit recovers the +1 / -1 codes of the seen classes less their mean
    # (-1/3 each: the features are centred and the model has no bias)
    np.testing.assert_allclose(scores[:10, :3].mean(0), [4 / 3, -2 / 3, -2 / 3], atol=0.02)
    with pytest.raises(ValueError, match="not a seen class"):
        compatibility_scores(train, labels, semantics, test, [0, 1])


def test_best_gamma_is_the_curve_point_of_the_largest_h():
    curve = {
        "gamma": [-9.0, 0.5, 2.0, 9.0],
        "seen_accuracy": [1.0, 0.8, 0.5, 0.0],
        "unseen_accuracy": [0.0, 0.6, 0.9, 1.0],
    }
    gamma, h = best_gamma(curve)  # H: 0, 0.686, 0.643, 0
    assert gamma == 0.5 and h == pytest.approx(harmonic_mean(0.8, 0.6))
