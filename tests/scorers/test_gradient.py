"""GraNd on a fixed linear model with uniform predictions.

Model: embedding e = the flattened frame (d = 2), head weights and bias all zero, so every
softmax is (1/3, 1/3, 1/3) and ||p - y|| = sqrt((2/3)^2 + 2 (1/3)^2) = sqrt(2/3) whatever the
label. The last-layer gradient norm is ||p - y|| * sqrt(1 + ||e||^2):

    s0 e=(0, 0)   sqrt(2/3) * 1        = 0.8165
    s1 e=(1, 2)   sqrt(2/3) * sqrt(6)  = 2
    s2 e=(2, 2)   sqrt(2/3) * 3        = 2.4495
    s3 e=(0, 1)   sqrt(2/3) * sqrt(2)  = 1.1547

Largest first: s2. Balanced (labels [0, 1, 2, 0], k=3): class 0 takes s3 over s0.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.model_outputs import compute_outputs
from engine.selection import select
from scorers import ModelOutputs, average_repeats, checked_score, get_scorer
from scorers.gradient import gradient_norm

IQ = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 2.0], [0.0, 1.0]], dtype=np.float32)[:, :, None]
IDS = np.array([20, 21, 22, 23])
LABELS = np.array([0, 1, 2, 0])
EXPECTED = np.sqrt(2 / 3) * np.array([1.0, np.sqrt(6), 3.0, np.sqrt(2)])


class ZeroHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Flatten()
        self.head = nn.Linear(2, 3)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(iq))


def test_gradient_norm():
    np.testing.assert_allclose(gradient_norm(np.array([[3.0, 4.0], [0.0, 0.0]])), [5.0, 0.0])


def test_grand_scores_the_last_layer_gradient_norm():
    scorer = get_scorer("grand")
    outputs = compute_outputs(ZeroHead(), IQ, LABELS, scorer.needs, ids=IDS, scorer="grand")
    scores = checked_score(scorer, outputs)
    np.testing.assert_allclose(scores, EXPECTED, rtol=1e-6)
    np.testing.assert_allclose(scores, [0.8165, 2.0, 2.4495, 1.1547], atol=1e-4)
    rng = np.random.default_rng(0)
    assert select(IDS, scores, LABELS, 1, balanced=False, num_classes=3, rng=rng).tolist() == [22]
    assert select(IDS, scores, LABELS, 3, balanced=True, num_classes=3, rng=rng).tolist() == [
        22,
        21,
        23,
    ]


def test_grand_depends_on_the_label_through_p_minus_y():
    # one sample, e = 0, p = (0.5, 0.25, 0.25): ||p - y|| is sqrt(0.25 + 2/16) for label 0 and
    # sqrt(0.25 + 0.5625 + 0.0625) for label 1; with e = 0 only the bias gradient is non-zero.
    probs = np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
    residual = probs - np.eye(3)[[0, 1]]
    gradients = np.concatenate([np.zeros((2, 3, 2)), residual[:, :, None]], axis=2).reshape(2, 9)
    outputs = ModelOutputs([0, 1], [0, 1], last_layer_grad=gradients)
    scores = checked_score(get_scorer("grand"), outputs)
    np.testing.assert_allclose(scores, [np.sqrt(0.375), np.sqrt(0.875)])


def test_repeats_average_to_the_expected_norm():
    # two repeats of the table above: the second with every norm doubled -> mean = 1.5 x
    repeat_scores = [EXPECTED, 2 * EXPECTED]
    np.testing.assert_allclose(average_repeats(repeat_scores), 1.5 * EXPECTED)


def test_repeats_and_warmup_are_declared():
    scorer = get_scorer("grand", repeats=3, warmup_epochs=5)
    assert (scorer.repeats, scorer.warmup_epochs) == (3, 5)
    assert get_scorer("grand").repeats == 10
    with pytest.raises(ValueError, match=r"'grand'.*repeats"):
        get_scorer("grand", repeats=0)
    with pytest.raises(ValueError, match=r"'grand'.*warmup_epochs"):
        get_scorer("grand", warmup_epochs=-1)
