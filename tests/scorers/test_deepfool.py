"""DeepFool on a fixed linear model, where one step reaches the boundary exactly.

Model: frames [n, 2, 1] flattened to x = (x1, x2); logits f = (x1, x2, 0). For a linear model
the DeepFool distance is min_k |f_k - f_y| / ||w_k - w_y|| over classes k other than the
prediction y, times (1 + overshoot) = 1.02:

    s0 x=( 2,  1)   y=0   k=1: 1/sqrt2 = 0.7071   k=2: 2/1 = 2     -> 1.02 * 0.7071
    s1 x=( 3,  0)   y=0   k=1: 3/sqrt2 = 2.1213   k=2: 3           -> 1.02 * 2.1213
    s2 x=(-1, -2)   y=2   k=0: 1/1               k=1: 2/1 = 2     -> 1.02 * 1
    s3 x=(.2, .1)   y=0   k=1: .1/sqrt2 = 0.0707  k=2: .2          -> 1.02 * 0.0707

Closest first: s3, s0, s2, s1.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.model_outputs import compute_outputs
from engine.selection import select
from scorers import checked_score, get_scorer
from scorers.deepfool import UNREACHABLE_DISTANCE, deepfool_distance

FRAMES = np.array([[2.0, 1.0], [3.0, 0.0], [-1.0, -2.0], [0.2, 0.1]], dtype=np.float32)
IQ = FRAMES[:, :, None]  # [4, 2, 1]
IDS = np.array([10, 11, 12, 13])
LABELS = np.array([0, 0, 1, 1])
EXPECTED = 1.02 * np.array([1 / np.sqrt(2), 3 / np.sqrt(2), 1.0, 0.1 / np.sqrt(2)])


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Flatten()
        self.head = nn.Linear(2, 3)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
            self.head.bias.zero_()

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(iq))


def test_distance_to_the_linear_boundary():
    scorer = get_scorer("deepfool")
    outputs = compute_outputs(Linear(), IQ, LABELS, scorer.needs, ids=IDS, scorer="deepfool")
    scores = checked_score(scorer, outputs)
    np.testing.assert_allclose(scores, -EXPECTED, rtol=1e-5)
    rng = np.random.default_rng(0)
    assert select(IDS, scores, LABELS, 1, balanced=False, num_classes=2, rng=rng).tolist() == [13]
    assert select(IDS, scores, LABELS, 4, balanced=False, num_classes=2, rng=rng).tolist() == [
        13,
        10,
        12,
        11,
    ]
    # class 0 = {s0, s1} takes s0; class 1 = {s2, s3} takes s3
    assert select(IDS, scores, LABELS, 2, balanced=True, num_classes=2, rng=rng).tolist() == [
        13,
        10,
    ]


def test_overshoot_scales_the_distance():
    model = Linear().eval()
    distances = deepfool_distance(model, IQ, overshoot=0.5)
    np.testing.assert_allclose(distances, EXPECTED / 1.02 * 1.5, rtol=1e-5)


class NeverFlips(nn.Module):
    """logits (1 + x1^2, 0): class 0 always wins; each step is a Newton step on 1 + x1^2."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        first = 1 + iq[:, 0, 0].square()
        return torch.stack([first, torch.zeros_like(first)], dim=1)


def test_iterations_are_bounded_and_unflipped_samples_keep_their_perturbation():
    model = NeverFlips()
    distances = deepfool_distance(model, IQ[:2], max_iter=3)
    assert model.calls == 1 + 3 + 1  # prediction, 3 steps, the final check
    assert np.all(np.isfinite(distances)) and np.all(distances > 0)


def test_flat_models_rank_last():
    def flat(iq: torch.Tensor) -> torch.Tensor:
        return torch.stack([iq.sum(dim=(1, 2)) * 0 + 1, iq.sum(dim=(1, 2)) * 0], dim=1)

    distances = deepfool_distance(flat, IQ[:2])
    np.testing.assert_array_equal(distances, [UNREACHABLE_DISTANCE, UNREACHABLE_DISTANCE])


def test_bad_parameters_name_the_scorer():
    with pytest.raises(ValueError, match=r"'deepfool'.*max_iter"):
        get_scorer("deepfool", max_iter=0)
    with pytest.raises(ValueError, match=r"'deepfool'.*overshoot"):
        get_scorer("deepfool", overshoot=0.0)
