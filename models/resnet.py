"""O'Shea, Roy & Clancy 2018 residual network for IQ frames (JSTSP, Table III; §4.3)."""

from __future__ import annotations

import torch
from torch import nn

from models.base import AmrClassifier
from models.layers import FrameNorm, pool_stages, selu_dense
from models.registry import register

__all__ = ["OSheaResNet1d"]


class _ResidualUnit(nn.Module):
    """``relu(x + conv(relu(conv(x))))`` with two Conv1d(c, c, 3, pad 1); ``[n, c, T]`` kept.

    Both convolutions start He normal with zero biases, the second scaled by ``branch_scale``
    so that the branch adds ``branch_scale**2`` of the input's variance (He et al. 2015; the
    scaled residual branch as in Fixup, Zhang et al. 2019, without its zeroing, so every weight
    has a gradient from the first step).
    """

    def __init__(self, channels: int, branch_scale: float = 1.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        with torch.no_grad():
            self.conv2.weight.mul_(branch_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


def _residual_stack(in_channels: int, channels: int = 32, branch_scale: float = 1.0):
    """Conv1d(in, c, 1) (linear, LeCun normal) → 2 residual units → MaxPool1d(2).

    Maps ``[n, in_channels, T]`` to ``[n, channels, T // 2]``.
    """
    projection = nn.Conv1d(in_channels, channels, 1)
    nn.init.kaiming_normal_(projection.weight, nonlinearity="linear")  # LeCun normal
    nn.init.zeros_(projection.bias)
    return nn.Sequential(
        projection,
        _ResidualUnit(channels, branch_scale),
        _ResidualUnit(channels, branch_scale),
        nn.MaxPool1d(2),
    )


@register("resnet1d", min_length=32)
class OSheaResNet1d(AmrClassifier):
    """O'Shea 2018 ResNet: residual stacks of 32 channels, then the SELU dense head.

    ``[n, 2, L]`` → FrameNorm → S residual stacks → flatten ``32·⌊L / 2^S⌋`` → Linear(·, 128) +
    SELU + AlphaDropout(0.3) → Linear(128, 128) + SELU + AlphaDropout(0.3) = embedding → head
    Linear(128, C). Each unit ends with a ReLU after the addition, as usual implementations do.

    Adaptation: ``S = min(6, ⌊log2(L / 16)⌋)`` stacks (6 at L=1024 as published, 3 at L=128, 5 at
    L=512), so the pooled length is 16 for powers of two and the flatten size 512 whatever L.
    165,144 parameters at L=1024, C=24 as in the paper.

    Initialisation (ours; the paper does not state one): LeCun normal projections, He normal
    residual convolutions with the second of each unit scaled by ``1/√(2S)`` (the ``2S`` units
    together then at most about e-fold the variance), zero biases, and the SELU block's LeCun
    normal (:func:`selu_dense`). Under PyTorch's defaults a few hundred L=1024 frames trained to
    one class (docs/training.md, "Small sets").

    Attributes:
        embedding_dim: 128.
    """

    def __init__(self, num_classes: int, length: int) -> None:
        stacks = pool_stages(length, most=6, final_min=16)
        layers: list[nn.Module] = [FrameNorm()]
        branch_scale = (2 * max(stacks, 1)) ** -0.5  # no stack below the minimum length
        layers += [
            _residual_stack(2 if stack == 0 else 32, branch_scale=branch_scale)
            for stack in range(stacks)
        ]
        layers += [nn.Flatten(), selu_dense(32 * (length >> stacks))]
        super().__init__(nn.Sequential(*layers), 128, num_classes)
