"""The classifier skeleton every model shares, and the one way callers read embeddings.

Every model in the zoo is an :class:`AmrClassifier`: two named submodules, ``features`` (frames
``[n, 2, L]`` to embedding ``[n, d]``) and ``head`` (one ``nn.Linear(d, C)``), with
``forward(iq) = head(features(iq))``. The engine reads embeddings and the last layer through
:func:`embedding_and_logits` and :func:`last_layer`; scorers never call model methods.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["AmrClassifier", "embedding_and_logits", "features_and_head", "last_layer"]


class AmrClassifier(nn.Module):
    """A classifier split into ``features`` and a single linear ``head``.

    Attributes:
        features: module mapping frames ``[n, 2, L]`` float32 to embeddings ``[n, d]``; it ends
            with the penultimate representation (after its activation and dropout).
        head: ``nn.Linear(d, C)``, the only layer after the embedding, so per-sample last-layer
            gradients follow from the embedding and the logits alone (GraNd, Glister).
        embedding_dim: ``d``.
        num_classes: ``C``.
    """

    def __init__(self, features: nn.Module, embedding_dim: int, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.head = nn.Linear(embedding_dim, num_classes)
        self.embedding_dim = embedding_dim
        self.num_classes = num_classes

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        """Logits ``[n, C]`` of frames ``iq`` ``[n, 2, L]`` float32."""
        return self.head(self.features(iq))


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside a ``DataParallel`` / ``DistributedDataParallel`` wrapper, if any."""
    while isinstance(model, nn.DataParallel | nn.parallel.DistributedDataParallel):
        model = model.module
    return model


def features_and_head(model: nn.Module) -> tuple[nn.Module, nn.Linear]:
    """The ``features`` module and linear ``head`` of a model (wrappers looked through).

    Raises:
        TypeError: the model lacks ``features`` or its ``head`` is not one ``nn.Linear``.
    """
    model = _unwrap(model)
    features = getattr(model, "features", None)
    head = getattr(model, "head", None)
    if not isinstance(features, nn.Module) or not isinstance(head, nn.Linear):
        raise TypeError(
            f"{type(model).__name__} has no `features` module and single `nn.Linear` `head`; "
            "build models with models.build"
        )
    return features, head


def embedding_and_logits(model: nn.Module, iq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate embedding and logits from one forward pass.

    Runs ``model.features`` then ``model.head``, so ``logits == model(iq)``. Gradient tracking and
    train/eval mode are the caller's choice. A ``DataParallel``/``DistributedDataParallel`` wrapper
    is looked through (its gradient synchronisation is then bypassed).

    Args:
        model: a model from :func:`models.build` (or any module with ``features`` and a linear
            ``head``).
        iq: frames ``[n, 2, L]`` float32.

    Returns:
        ``(embedding [n, d], logits [n, C])``; ``d`` is ``model.embedding_dim``.

    Raises:
        TypeError: the model lacks ``features`` or its ``head`` is not one ``nn.Linear``.
    """
    features, head = features_and_head(model)
    embedding = features(iq)
    return embedding, head(embedding)


def last_layer(model: nn.Module) -> nn.Linear:
    """The final ``nn.Linear(d, C)`` (``model.head``); logits = embedding @ W.T + b.

    Args:
        model: a model from :func:`models.build` (wrappers are looked through as above).

    Returns:
        The head layer itself (not a copy).

    Raises:
        TypeError: the model lacks ``features`` or its ``head`` is not one ``nn.Linear``.
    """
    return features_and_head(model)[1]
