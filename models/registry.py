"""Model registry: ``@register(name, min_length=...)`` on a class, ``build(name, C, L)`` to use it.

A registered class takes ``(num_classes, length)`` and is an :class:`models.base.AmrClassifier`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from models.base import AmrClassifier

__all__ = ["ModelSpec", "available", "build", "model_spec", "register"]

_REGISTRY: dict[str, ModelSpec] = {}


@dataclass(frozen=True)
class ModelSpec:
    """One registered architecture.

    Attributes:
        name: registry name (lower_snake, stable).
        factory: the class, called as ``factory(num_classes, length)``.
        min_length: the shortest frame length ``L`` (samples) the architecture accepts.
        summary: first line of the class docstring.
    """

    name: str
    factory: Callable[[int, int], AmrClassifier]
    min_length: int
    summary: str


def register(name: str, *, min_length: int) -> Callable[[type], type]:
    """Class decorator adding an architecture to the registry.

    Args:
        name: registry name; must be new.
        min_length: shortest frame length the architecture accepts (samples, >= 1).

    Returns:
        The decorator; it returns the class unchanged.

    Raises:
        ValueError: the name is taken or ``min_length < 1``.
    """
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    if min_length < 1:
        raise ValueError(f"model {name!r}: min_length must be >= 1, got {min_length}")

    def decorator(cls: type) -> type:
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        _REGISTRY[name] = ModelSpec(name, cls, min_length, summary)
        return cls

    return decorator


def available() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(_REGISTRY)


def model_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``.

    Raises:
        KeyError: unknown name; the message lists the known names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {available()}") from None


def build(name: str, num_classes: int, length: int) -> AmrClassifier:
    """A freshly initialised model (train mode, CPU, float32).

    Weights come from torch's global generator: seed it (``torch.manual_seed``) for
    reproducible weights.

    Args:
        name: a name from :func:`available`.
        num_classes: number of classes ``C`` (>= 2).
        length: frame length ``L`` in samples (>= the model's ``min_length``).

    Returns:
        The model; it maps float32 frames ``[n, 2, L]`` to logits ``[n, C]``.

    Raises:
        KeyError: unknown name; the message lists the known names.
        TypeError: ``num_classes`` or ``length`` is not an integer.
        ValueError: ``num_classes < 2``, or ``length`` is below the model's minimum.
    """
    spec = model_spec(name)
    for key, value in (("num_classes", num_classes), ("length", length)):
        if isinstance(value, bool):
            raise TypeError(f"model {name!r}: {key} must be an integer, got {value!r}")
        try:
            operator.index(value)
        except TypeError:
            raise TypeError(f"model {name!r}: {key} must be an integer, got {value!r}") from None
    num_classes, length = operator.index(num_classes), operator.index(length)
    if num_classes < 2:
        raise ValueError(f"model {name!r}: num_classes must be >= 2, got {num_classes}")
    if length < spec.min_length:
        raise ValueError(
            f"model {name!r} needs frames of at least {spec.min_length} samples "
            f"(minimum length {spec.min_length}), got length {length}"
        )
    return spec.factory(num_classes, length)
