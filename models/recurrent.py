"""Recurrent classifiers: GRU2 (§4.5) and MCLDNN (§4.4)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from models.base import AmrClassifier
from models.layers import FrameNorm
from models.registry import register

__all__ = ["Gru2", "Mcldnn"]


class _GruEncoder(nn.Module):
    """FrameNorm → GRU(2, 128) → GRU(128, 128) over time → last hidden state ``[n, 128]``."""

    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        self.norm = FrameNorm()
        self.gru = nn.GRU(2, hidden, num_layers=2, batch_first=True)

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        _, last = self.gru(self.norm(iq).transpose(1, 2))  # sequence [n, L, 2]
        return last[-1]


@register("gru", min_length=1)
class Gru2(AmrClassifier):
    """GRU2 (Hong et al. 2017): two stacked GRUs of 128 over the IQ sequence, last state.

    ``[n, 2, L]`` → FrameNorm → as a sequence ``[n, L, 2]`` → GRU(2, 128) → GRU(128, 128) → last
    hidden state = embedding ``[n, 128]`` → head Linear(128, C). 151,179 parameters at C=11 (any L).

    Attributes:
        embedding_dim: 128.
    """

    def __init__(self, num_classes: int, length: int) -> None:
        super().__init__(_GruEncoder(), 128, num_classes)


class _McldnnEncoder(nn.Module):
    """The MCLDNN trunk: ``[n, 2, L]`` → embedding ``[n, 128]`` (see :class:`Mcldnn`)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = FrameNorm()
        # Keras 'same' with even kernels pads (k - 1) // 2 before and the rest after.
        self.iq_conv = nn.Sequential(nn.ZeroPad2d((3, 4, 0, 1)), nn.Conv2d(1, 50, (2, 8)))
        self.i_conv = nn.Conv1d(1, 50, 8)
        self.q_conv = nn.Conv1d(1, 50, 8)
        self.iq_from_branches = nn.Sequential(nn.ZeroPad2d((3, 4, 0, 0)), nn.Conv2d(50, 50, (1, 8)))
        self.fuse = nn.Conv2d(100, 100, (2, 5))
        self.lstm = nn.LSTM(100, 128, num_layers=2, batch_first=True)
        self.dense = nn.Sequential(
            nn.Linear(128, 128),
            nn.SELU(),
            nn.Dropout(0.5),
            nn.Linear(128, 128),
            nn.SELU(),
            nn.Dropout(0.5),
        )

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        iq = self.norm(iq)
        joint = torch.relu(self.iq_conv(iq.unsqueeze(1)))  # [n, 50, 2, L]
        causal = functional.pad(iq, (7, 0))  # pad 7 on the left only: causal convs on I and Q
        in_phase = torch.relu(self.i_conv(causal[:, :1]))  # [n, 50, L]
        quadrature = torch.relu(self.q_conv(causal[:, 1:]))
        branches = torch.relu(self.iq_from_branches(torch.stack([in_phase, quadrature], dim=2)))
        fused = torch.relu(self.fuse(torch.cat([joint, branches], dim=1)))  # [n, 100, 1, L - 4]
        sequence, _ = self.lstm(fused.squeeze(2).transpose(1, 2))  # [n, L - 4, 128]
        return self.dense(sequence[:, -1])


@register("mcldnn", min_length=5)
class Mcldnn(AmrClassifier):
    """MCLDNN (Xu, Luo, Parr & Luo, IEEE WCL 2020), as in the official wzjialang/MCLDNN code.

    Three inputs derived from ``[n, 2, L]`` after FrameNorm: IQ as a 2-row image through
    Conv2d(1, 50, (2, 8), same) + ReLU; I and Q each through their own causal Conv1d(1, 50, 8) +
    ReLU, stacked as 2 rows and passed through Conv2d(50, 50, (1, 8), same) + ReLU; both
    concatenated (100 channels) → Conv2d(100, 100, (2, 5)) valid + ReLU → sequence
    ``[n, L - 4, 100]`` → LSTM(100, 128) → LSTM(128, 128) → last hidden state → Linear(128, 128) +
    SELU + Dropout(0.5) → Linear(128, 128) + SELU + Dropout(0.5) = embedding → head
    Linear(128, C). 406,199 parameters at L=128, C=11 (torch LSTMs carry two bias vectors, so
    1,024 more than the Keras original). At L=1024 the LSTMs run 1,020 steps and dominate.

    Attributes:
        embedding_dim: 128.
    """

    def __init__(self, num_classes: int, length: int) -> None:
        super().__init__(_McldnnEncoder(), 128, num_classes)
