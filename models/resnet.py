"""O'Shea, Roy & Clancy 2018 residual network for IQ frames (JSTSP, Table III; §4.3)."""

from __future__ import annotations

import torch
from torch import nn

from models.base import AmrClassifier
from models.layers import FrameNorm, pool_stages, selu_dense
from models.registry import register

__all__ = ["OSheaResNet1d"]


class _ResidualUnit(nn.Module):
    """``relu(x + conv(relu(conv(x))))`` with two Conv1d(c, c, 3, pad 1); ``[n, c, T]`` kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)
        nn.init.kaiming_normal_(self.conv1.weight, nonlinearity="relu")
        nn.init.zeros_(self.conv2.weight)  # the unit starts as relu(x) (Goyal et al. 2017)
        nn.init.zeros_(self.conv1.bias)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


def _residual_stack(in_channels: int, channels: int = 32) -> nn.Sequential:
    """Conv1d(in, c, 1) (linear) → 2 residual units → MaxPool1d(2).

    Maps ``[n, in_channels, T]`` to ``[n, channels, T // 2]``.
    """
    projection = nn.Conv1d(in_channels, channels, 1)
    nn.init.kaiming_normal_(projection.weight, nonlinearity="linear")  # LeCun normal
    nn.init.zeros_(projection.bias)
    return nn.Sequential(
        projection,
        _ResidualUnit(channels),
        _ResidualUnit(channels),
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

    Attributes:
        embedding_dim: 128.
    """

    def __init__(self, num_classes: int, length: int) -> None:
        stacks = pool_stages(length, most=6, final_min=16)
        layers: list[nn.Module] = [FrameNorm()]
        layers += [_residual_stack(2 if stack == 0 else 32) for stack in range(stacks)]
        layers += [nn.Flatten(), selu_dense(32 * (length >> stacks))]
        super().__init__(nn.Sequential(*layers), 128, num_classes)
