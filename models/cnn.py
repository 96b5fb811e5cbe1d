"""Convolutional classifiers: VT-CNN2, O'Shea 2018 VGG-style 1-D CNN, a 1-D AlexNet, SigNet-like.

Specs: ``reference/amr_data.md`` §4.1, §4.2, §4.6; the DUSE paper compares 1D-CNN, 2D-CNN,
AlexNet, SigNet, GRU and MCLDNN.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from models.base import AmrClassifier
from models.layers import FrameNorm, pool_stages, selu_dense
from models.registry import register

__all__ = ["AlexNet1d", "OSheaCnn1d", "SigNetLike", "VtCnn2"]


class _Unsqueeze(nn.Module):
    """``[n, 2, L]`` to ``[n, 1, 2, L]``: IQ as a one-channel 2-row image."""

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        return iq.unsqueeze(1)


@register("cnn2d", min_length=1)
class VtCnn2(AmrClassifier):
    """VT-CNN2 (O'Shea et al. 2016), exactly as the radioML example notebook (§4.1).

    ``[n, 2, L]`` → FrameNorm → as ``[n, 1, 2, L]`` → Conv2d(1, 256, (1, 3), pad (0, 2)) + ReLU +
    Dropout(0.5) → Conv2d(256, 80, (2, 3), pad (0, 2)) + ReLU + Dropout(0.5) → flatten
    ``80·(L + 4)`` → Linear(·, 256) + ReLU + Dropout(0.5) = embedding → head Linear(256, C).
    2,830,427 parameters at L=128, C=11; the first dense layer dominates (21.2 M at L=1024).

    Attributes:
        embedding_dim: 256.
    """

    def __init__(self, num_classes: int, length: int) -> None:
        features = nn.Sequential(
            FrameNorm(),
            _Unsqueeze(),
            nn.Conv2d(1, 256, (1, 3), padding=(0, 2)),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(256, 80, (2, 3), padding=(0, 2)),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Flatten(),
            nn.Linear(80 * (length + 4), 256),
            nn.ReLU(),
            nn.Dropout(0.5),
        )
        super().__init__(features, 256, num_classes)


@register("cnn1d", min_length=16)
class OSheaCnn1d(AmrClassifier):
    """O'Shea, Roy & Clancy 2018 VGG-style 1-D CNN (JSTSP, Table II; §4.2).

    ``[n, 2, L]`` → FrameNorm → B × [Conv1d(·, 64, 3, pad 1) + ReLU + MaxPool1d(2)] → flatten
    ``64·⌊L / 2^B⌋`` → Linear(·, 128) + SELU + AlphaDropout(0.3) → Linear(128, 128) + SELU +
    AlphaDropout(0.3) = embedding → head Linear(128, C).

    Adaptation: ``B = min(7, ⌊log2(L / 8)⌋)`` pool stages (7 at L=1024 as published, 4 at L=128,
    6 at L=512), so the pooled length is 8 for powers of two and the flatten size 512 whatever L.
    159,832 parameters at L=1024, C=24 as in the paper.

    Initialisation (ours; the paper does not state one): He normal convolutions (He et al. 2015,
    variance 2 / fan_in, made for ReLU) with zero biases, and the SELU block's LeCun normal
    (:func:`selu_dense`). Under PyTorch's defaults the seven ReLU stages shrank the signal about
    2.7-fold each while the random biases did not shrink, so at L=1024 the logits hardly depended
    on the frame (spread across frames 3e-4) and a few hundred frames trained to one class
    (docs/training.md, "Small sets").

    Attributes:
        embedding_dim: 128.
    """

    def __init__(self, num_classes: int, length: int) -> None:
        blocks = pool_stages(length, most=7, final_min=8)
        layers: list[nn.Module] = [FrameNorm()]
        for block in range(blocks):
            conv = nn.Conv1d(2 if block == 0 else 64, 64, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(), nn.MaxPool1d(2)]
        layers += [nn.Flatten(), selu_dense(64 * (length >> blocks))]
        super().__init__(nn.Sequential(*layers), 128, num_classes)


@register("alexnet", min_length=29)
class AlexNet1d(AmrClassifier):
    """A 1-D AlexNet (Krizhevsky et al. 2012), our adaptation for IQ frames.

    The DUSE paper lists AlexNet without its adaptation to signals, so this one is ours: the five
    AlexNet convolutions with half its channels (96-256-384-384-256 → 48-128-192-192-128), 1-D
    kernels 11 (stride 2 rather than 4, as frames are short), 5, 3, 3, 3, ReLU after each,
    MaxPool1d(3, stride 2) after conv 1, 2 and 5, then AdaptiveAvgPool1d(6) as in torchvision so
    any L works, and three dense layers with dropout as in AlexNet, scaled from 4096 to 256 wide:
    Dropout(0.5) → Linear(768, 256) + ReLU → Dropout(0.5) → Linear(256, 256) + ReLU = embedding →
    head Linear(256, C).

    Attributes:
        embedding_dim: 256.
    """

    def __init__(self, num_classes: int, length: int) -> None:
        features = nn.Sequential(
            FrameNorm(),
            nn.Conv1d(2, 48, 11, stride=2, padding=5),
            nn.ReLU(),
            nn.MaxPool1d(3, stride=2),
            nn.Conv1d(48, 128, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool1d(3, stride=2),
            nn.Conv1d(128, 192, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(192, 192, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(192, 128, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool1d(3, stride=2),
            nn.AdaptiveAvgPool1d(6),
            nn.Flatten(),
            nn.Dropout(0.5),
            nn.Linear(128 * 6, 256),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(256, 256),
            nn.ReLU(),
        )
        super().__init__(features, 256, num_classes)


class _SignalToMatrix(nn.Module):
    """S2M-like reshape: ``[n, c, L]`` → ``[n, c, h, w]`` with ``w = ⌊√L⌋``, ``h = ⌈L / w⌉``.

    The sequence is zero-padded at the end to ``h·w`` and laid out row by row (32 × 32 at L=1024,
    12 × 11 at L=128).
    """

    def __init__(self, length: int) -> None:
        super().__init__()
        self.width = math.isqrt(length)
        self.height = -(-length // self.width)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        pad = self.height * self.width - sequence.shape[-1]
        padded = functional.pad(sequence, (0, pad))
        return padded.reshape(*sequence.shape[:2], self.height, self.width)


@register("signet", min_length=16)
class SigNetLike(AmrClassifier):
    """SigNet-like (after Chen et al., IEEE TCCN 2021): an APPROXIMATION, not the published net.

    SigNet co-trains a signal-to-matrix (S2M) operator with a CNN, and SigNet2.0 puts 1-D
    convolutions first; the S2M construction and the layer sizes are not public (§3, §4.6), so
    this follows the idea only: a learnable 1-D conv front end, a reshape of its feature sequence
    into a near-square map, and a small 2-D CNN.

    ``[n, 2, L]`` → FrameNorm → Conv1d(2, 32, 7, pad 3) + ReLU → Conv1d(32, 16, 5, pad 2) + ReLU →
    reshape ``[n, 16, L]`` to ``[n, 16, ⌈L/⌊√L⌋⌉, ⌊√L⌋]`` → 2 × [Conv2d(3×3) + ReLU +
    MaxPool2d(2)] (16 → 32 → 64) → Conv2d(64, 128, 3) + ReLU → global average pool → Dropout(0.5)
    = embedding ``[n, 128]`` → head Linear(128, C).

    Attributes:
        embedding_dim: 128.
    """

    def __init__(self, num_classes: int, length: int) -> None:
        features = nn.Sequential(
            FrameNorm(),
            nn.Conv1d(2, 32, 7, padding=3),
            nn.ReLU(),
            nn.Conv1d(32, 16, 5, padding=2),
            nn.ReLU(),
            _SignalToMatrix(length),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.5),
        )
        super().__init__(features, 128, num_classes)
