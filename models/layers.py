"""Shared building blocks: per-frame input normalisation, the O'Shea 2018 dense block and its
pool-stage rule."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FrameNorm", "normalize_frames", "pool_stages", "selu_dense"]

RMS_FLOOR = 1e-12


def normalize_frames(iq: torch.Tensor, rms_floor: float = RMS_FLOOR) -> torch.Tensor:
    """Divide each frame by its RMS over I and Q.

    RML2016 frames are L1-normalised (RMS about 0.008) and RML2018 frames are near unit power, so
    the raw scale differs by two orders of magnitude between datasets; this makes every model
    scale-invariant. Frames with an RMS below ``rms_floor`` (all-zero frames) are divided by the
    floor instead, so they stay finite.

    Args:
        iq: frames ``[n, 2, L]`` (any float dtype; I and Q rows).
        rms_floor: smallest RMS divided by.

    Returns:
        Frames ``[n, 2, L]``, same dtype, each with unit mean power over its 2·L values.
    """
    rms = iq.pow(2).mean(dim=(1, 2), keepdim=True).sqrt()
    return iq / rms.clamp_min(rms_floor)


class FrameNorm(nn.Module):
    """Parameter-free first step of every model: :func:`normalize_frames`, ``[n, 2, L]`` kept."""

    def __init__(self, rms_floor: float = RMS_FLOOR) -> None:
        super().__init__()
        self.rms_floor = rms_floor

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        """Normalise ``iq`` ``[n, 2, L]`` to unit RMS per frame."""
        return normalize_frames(iq, self.rms_floor)


def selu_dense(in_features: int, width: int = 128, dropout: float = 0.3) -> nn.Sequential:
    """The O'Shea 2018 dense block: two × [Linear(·, width) + SELU + AlphaDropout].

    The linear layers start as SELU needs them (Klambauer et al. 2017, §"Initialization"): LeCun
    normal weights, variance 1 / fan_in, and zero biases. PyTorch's default (uniform, variance
    1 / (3 fan_in), random biases) shrinks the signal threefold per layer, so the block's output
    hardly depended on its input at the start of training.

    Args:
        in_features: flattened input size.
        width: units per layer (128 in the paper).
        dropout: AlphaDropout rate (the paper does not state it; 0.3 is our choice).

    Returns:
        A module mapping ``[n, in_features]`` to ``[n, width]``.
    """
    block = nn.Sequential(
        nn.Linear(in_features, width),
        nn.SELU(),
        nn.AlphaDropout(dropout),
        nn.Linear(width, width),
        nn.SELU(),
        nn.AlphaDropout(dropout),
    )
    for layer in (block[0], block[3]):
        nn.init.kaiming_normal_(layer.weight, nonlinearity="linear")  # LeCun normal
        nn.init.zeros_(layer.bias)
    return block


def pool_stages(length: int, most: int, final_min: int) -> int:
    """How many halvings a pooled network uses: ``min(most, floor(log2(L / final_min)))``.

    The published O'Shea 2018 networks are for L=1024; shorter frames get fewer pool stages, so
    the pooled length stays in ``[final_min, 2·final_min)`` and the flatten size stays small.

    Args:
        length: frame length ``L`` (samples, >= ``2 * final_min``).
        most: the published number of stages (at L=1024).
        final_min: the published final length (1024 / 2**most).

    Returns:
        The number of stages, >= 1.
    """
    return min(most, (length // final_min).bit_length() - 1)
