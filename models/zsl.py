"""SigZSLNet's networks (Zhou et al., seed Tables 1-2, §2.2) and the two losses that train them.

* :class:`SemanticSignalEncoder` and :class:`DescriptionEncoder`: the two branches of the
  semantic generation module (Table 1); :class:`SemanticModule` joins them with the
  compatibility ``F(s, t) = e(s)ᵀφ(t)`` trained by :func:`joint_embedding_loss` (Eq. 2).
* :class:`FeatureCnn` (registered as ``sigzsl_cnn``): the Table 2 CNN, frames to 128-d features.
* :class:`FeatureGenerator` and :class:`FeatureCritic`: the conditional WGAN-GP (§2.2.3), with
  :func:`gradient_penalty` (Eq. 4, λ applied by the caller).
* :class:`ZslClassifier`: FC 128 + PReLU + linear over all classes (§2.2.4; softmax in the loss).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from models.base import AmrClassifier
from models.layers import FrameNorm
from models.registry import register

__all__ = [
    "DescriptionEncoder",
    "FeatureCnn",
    "FeatureCritic",
    "FeatureGenerator",
    "SemanticModule",
    "SemanticSignalEncoder",
    "ZslClassifier",
    "gradient_penalty",
    "joint_embedding_loss",
]

FEATURE_DIM = 128
SEMANTIC_DIM = 64
LEAKY_SLOPE = 0.2


def _conv_pool_length(length: int, kernel: int, pool: int) -> int:
    """Length after a valid Conv1d(kernel) and a ceil-mode MaxPool1d(pool)."""
    return math.ceil((length - kernel + 1) / pool)


class SemanticSignalEncoder(nn.Module):
    """Table 1, convolutional part: frames ``[n, 2, L]`` to the signal embedding e(s) ``[n, 64]``.

    FrameNorm → B × [Conv1d(·, 64, 5) + ReLU + MaxPool1d(5, ceil mode)] → global max pool →
    Linear(64, 64) + ReLU → Linear(64, 64). At L=1024, B = 4 and the lengths are the paper's
    1020, 204, 200, 40, 36, 8, 4, 1 (Table 1 prints 1016 for the first, a slip). Shorter frames use
    fewer blocks (at least 1; L >= 5). The paper lists no activations; ReLU is our choice.
    """

    def __init__(self, length: int, width: int = 64, embedding_dim: int = SEMANTIC_DIM) -> None:
        super().__init__()
        if length < 5:
            raise ValueError(f"the semantic signal encoder needs L >= 5, got {length}")
        layers: list[nn.Module] = [FrameNorm()]
        channels, remaining = 2, length
        for _ in range(4):
            if remaining < 5:
                break
            layers += [nn.Conv1d(channels, width, 5), nn.ReLU(), nn.MaxPool1d(5, ceil_mode=True)]
            channels, remaining = width, _conv_pool_length(remaining, 5, 5)
        layers += [nn.AdaptiveMaxPool1d(1), nn.Flatten()]
        layers += [
            nn.Linear(width, embedding_dim),
            nn.ReLU(),
            nn.Linear(embedding_dim, embedding_dim),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[n, 64]`` of frames ``iq`` ``[n, 2, L]`` float32."""
        return self.net(iq)


class DescriptionEncoder(nn.Module):
    """Table 1, encoding part: description encodings ``[c, K, T]`` to φ(t) ``[c, 64]``.

    Conv1d(K, 128, 5) → MaxPool1d(5, ceil mode) → ReLU → Conv1d(128, 128, 5) → global max pool
    → ReLU → Linear(128, 64). The paper's input is 32×47 (K = 32 symbols, T = 47 positions,
    giving 43, 9, 5, 1 as printed); ours comes from the attribute table (see
    ``engine.zsl.attributes``), any K and T >= 25.
    """

    def __init__(self, channels: int, length: int, embedding_dim: int = SEMANTIC_DIM) -> None:
        super().__init__()
        if length < 25:
            raise ValueError(f"the description encoder needs T >= 25 positions, got {length}")
        self.net = nn.Sequential(
            nn.Conv1d(channels, 128, 5),
            nn.MaxPool1d(5, ceil_mode=True),
            nn.ReLU(),
            nn.Conv1d(128, 128, 5),
            nn.AdaptiveMaxPool1d(1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(128, embedding_dim),
        )

    def forward(self, encoding: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[c, 64]`` of encodings ``[c, K, T]`` float32."""
        return self.net(encoding)


class SemanticModule(nn.Module):
    """The semantic generation module (Fig. 2): both encoders and their compatibility.

    Attributes:
        signal_encoder: e(s), :class:`SemanticSignalEncoder`.
        description_encoder: φ(t), :class:`DescriptionEncoder`.
    """

    def __init__(self, length: int, encoding_channels: int, encoding_length: int) -> None:
        super().__init__()
        self.signal_encoder = SemanticSignalEncoder(length)
        self.description_encoder = DescriptionEncoder(encoding_channels, encoding_length)

    def forward(
        self, iq: torch.Tensor, encodings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Signal embeddings ``[n, 64]`` of ``iq`` and class embeddings ``[c, 64]``."""
        return self.signal_encoder(iq), self.description_encoder(encodings)


def joint_embedding_loss(
    signal_embedding: torch.Tensor, class_embedding: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Symmetric structured hinge of Eq. 2 (DS-SJE, Reed et al. 2016), 0-1 margin Δ (Eq. 3).

    With F[n, y] = e(s_n)ᵀφ(t_y):

    * signal term: max_y (Δ(y_n, y) + F[n, y]) − F[n, y_n];
    * description term: max_y (Δ(y_n, y) + mean_{s of class y} F[s, y_n]) − F[n, y_n], over the
      classes present in the batch (one description per class, so E over t is that one).

    Each term is clamped at 0. The seed's transcription drops the max over y (zsl.md §1.4).

    Args:
        signal_embedding: e(s) ``[n, d]``.
        class_embedding: φ(t) ``[c, d]``, one row per class index.
        labels: class index of each signal ``[n]`` int64 in ``[0, c)``.

    Returns:
        The mean over the n signals of both terms, a scalar.
    """
    scores = signal_embedding @ class_embedding.T  # [n, c]
    true = scores.gather(1, labels[:, None]).squeeze(1)
    margin = 1.0 - functional.one_hot(labels, scores.shape[1]).to(scores.dtype)
    signal_term = (margin + scores).max(1).values - true
    present = torch.unique(labels)
    members = (labels[None, :] == present[:, None]).to(scores.dtype)  # [p, n]
    # mean_{s of class p} F[s, y] for every present class p and every class y: [p, c]
    class_mean = members @ scores / members.sum(1, keepdim=True)
    towards_own = class_mean[:, labels].T  # [n, p]: mean over class p's signals of F[s, y_n]
    delta = (present[None, :] != labels[:, None]).to(scores.dtype)
    description_term = (delta + towards_own).max(1).values - true
    return (signal_term.clamp_min(0) + description_term.clamp_min(0)).mean()


@register("sigzsl_cnn", min_length=32)
class FeatureCnn(AmrClassifier):
    """SigZSLNet's feature CNN (seed Table 2), trained on the seen classes only.

    ``[n, 2, L]`` → FrameNorm → 5 × [Conv1d(·, 64, 8, 'same') + BatchNorm + ReLU + MaxPool1d(2)] →
    flatten ``64·⌊L/32⌋`` (2048 at L=1024) → Linear(·, 128) + ReLU = the 128-d feature =
    embedding → head Linear(128, C). Our choices where Table 2 is silent: BatchNorm after each
    convolution (without it the network sat at chance for many epochs on sigzsl7), and the ReLU
    after the 128-unit layer (non-negative features match the generator's ReLU output, as in
    f-CLSWGAN).

    Attributes:
        embedding_dim: 128.
    """

    def __init__(self, num_classes: int, length: int) -> None:
        layers: list[nn.Module] = [FrameNorm()]
        for block in range(5):
            layers += [
                nn.ConstantPad1d((3, 4), 0.0),  # 'same' for kernel 8, without torch's copy warning
                nn.Conv1d(2 if block == 0 else 64, 64, 8),
                nn.BatchNorm1d(64),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
        layers += [nn.Flatten(), nn.Linear(64 * (length // 32), FEATURE_DIM), nn.ReLU()]
        super().__init__(nn.Sequential(*layers), FEATURE_DIM, num_classes)


class FeatureGenerator(nn.Module):
    """G (Table 2): concat[noise z, semantic vector] → FC 256 + LeakyReLU(0.2) → FC 128 + ReLU.

    Noise is concatenated (f-CLSWGAN); the seed says only that Gaussian noise is "added to the
    input". The output ReLU matches the non-negative :class:`FeatureCnn` features.
    """

    def __init__(
        self, noise_dim: int, semantic_dim: int, feature_dim: int = FEATURE_DIM, hidden: int = 256
    ) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.net = nn.Sequential(
            nn.Linear(noise_dim + semantic_dim, hidden),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(hidden, feature_dim),
            nn.ReLU(),
        )

    def forward(self, noise: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        """Features ``[n, feature_dim]`` from noise ``[n, noise_dim]`` and semantics ``[n, s]``."""
        return self.net(torch.cat([noise, semantic], 1))


class FeatureCritic(nn.Module):
    """D (§2.2.3): concat[feature, semantic vector] → FC 256 + LeakyReLU(0.2) → FC 1, no activation.

    Table 2's D row (input 64, output 128) is copied from G; the text's critic score is used.
    Conditioning on the semantic vector follows f-CLSWGAN (the seed's Eq. 4 is unconditioned).
    """

    def __init__(self, feature_dim: int, semantic_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(feature_dim + semantic_dim, hidden),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        """Critic scores ``[n]`` (higher = more real)."""
        return self.net(torch.cat([features, semantic], 1)).squeeze(1)


def gradient_penalty(
    critic_on_interpolates: torch.Tensor, interpolates: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP penalty E[(‖∇_x̂ D(x̂)‖₂ − 1)²] (Gulrajani et al. 2017; seed Eq. 4 without λ).

    The gradient is taken out of place with ``create_graph=True`` so the penalty can be
    back-propagated by an ordinary ``backward()`` (DDP-safe, reference/ray.md §3).

    Args:
        critic_on_interpolates: D(x̂) ``[n]`` for the interpolates.
        interpolates: x̂ = αx + (1 − α)x̃ ``[n, d]``, a tensor that requires grad.

    Returns:
        The mean squared deviation of the per-sample gradient norm from 1, a scalar.
    """
    (gradient,) = torch.autograd.grad(critic_on_interpolates.sum(), interpolates, create_graph=True)
    return (gradient.norm(2, dim=1) - 1).pow(2).mean()


class ZslClassifier(nn.Module):
    """The final classifier (§2.2.4): Linear(128, 128) + PReLU → Linear(128, C) logits.

    Trained with cross entropy (softmax in the loss) over all C classes, seen and unseen.
    """

    def __init__(self, num_classes: int, feature_dim: int = FEATURE_DIM, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(feature_dim, hidden), nn.PReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``[n, C]`` of features ``[n, feature_dim]``."""
        return self.net(features)
