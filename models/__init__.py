"""The AMR classifier zoo: plain ``nn.Module``s built by name.

Every model maps float32 frames ``[n, 2, L]`` to logits ``[n, C]``, starts with a parameter-free
per-frame RMS normalisation (:class:`FrameNorm`), and has two named submodules: ``features``
(frames to the penultimate embedding ``[n, embedding_dim]``) and ``head`` (one
``nn.Linear(embedding_dim, C)``). Read both through :func:`embedding_and_logits` and
:func:`last_layer`.

    >>> model = build("cnn2d", num_classes=11, length=128)
    >>> embedding, logits = embedding_and_logits(model.eval(), iq)

Registered names (see :func:`available`): ``alexnet``, ``cnn1d``, ``cnn2d``, ``gru``, ``mcldnn``,
``resnet1d``, ``signet``, ``sigzsl_cnn`` (SigZSLNet's feature CNN; its other networks are in
:mod:`models.zsl`).
"""

from models import cnn, recurrent, resnet, zsl  # noqa: F401  (importing registers the architectures)
from models.base import AmrClassifier, embedding_and_logits, features_and_head, last_layer
from models.layers import FrameNorm, normalize_frames
from models.registry import ModelSpec, available, build, model_spec, register

__all__ = [
    "AmrClassifier",
    "FrameNorm",
    "ModelSpec",
    "available",
    "build",
    "embedding_and_logits",
    "features_and_head",
    "last_layer",
    "model_spec",
    "normalize_frames",
    "register",
]
