"""The scorer registry: ``@register(name)`` in-process, the ``duse.scorers`` entry-point group
for third-party packages (loaded lazily, once), :func:`get_scorer` and :func:`available`."""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scorers.base import DynamicsScorer, Needs, PointwiseScorer, Scorer, ScorerKind, SetSelector

__all__ = ["ENTRY_POINT_GROUP", "ScorerInfo", "available", "get_scorer", "register"]

log = logging.getLogger(f"duse.{__name__}")

ENTRY_POINT_GROUP = "duse.scorers"
_KINDS = (PointwiseScorer, DynamicsScorer, SetSelector)

_REGISTRY: dict[str, type[Scorer]] = {}
_SOURCES: dict[str, str] = {}  # name -> where it came from (module, or entry point value)
_entry_points_loaded = False


@dataclass(frozen=True)
class ScorerInfo:
    """One registered scorer, as ``duse scorers`` lists it.

    Attributes:
        name: registry name.
        kind: ``"pointwise"``, ``"dynamics"`` or ``"set"``.
        needs: what it reads from the model.
        doc: first line of the class docstring.
        source: the defining module, or ``"entry point <value>"`` for plugins.
    """

    name: str
    kind: ScorerKind
    needs: Needs
    doc: str
    source: str


def _add(name: str, cls: Any, source: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ValueError(f"scorer name must be lower_snake, got {name!r} ({source})")
    if not (isinstance(cls, type) and issubclass(cls, _KINDS)):
        raise TypeError(
            f"scorer {name!r} ({source}) must be a subclass of PointwiseScorer, DynamicsScorer "
            f"or SetSelector; got {cls!r}"
        )
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(
            f"scorer {name!r} is already registered by {_SOURCES[name]}; {source} cannot reuse it"
        )
    if not isinstance(cls.needs, Needs):
        raise TypeError(f"scorer {name!r} ({source}): `needs` must be a Needs flag")
    cls.name = name
    _REGISTRY[name] = cls
    _SOURCES[name] = source


def register(name: str) -> Callable[[type], type]:
    """Class decorator adding a scorer to the registry under ``name``.

    Args:
        name: lower_snake registry name; must be new.

    Returns:
        The decorator; it sets ``cls.name = name`` and returns the class.

    Raises:
        ValueError: the name is taken or not lower_snake.
        TypeError: the class is not a PointwiseScorer, DynamicsScorer or SetSelector.
    """

    def decorator(cls: type) -> type:
        _add(name, cls, cls.__module__ if isinstance(cls, type) else repr(cls))
        return cls

    return decorator


def _load_entry_points(force: bool = False) -> None:
    """Register every scorer of the ``duse.scorers`` entry-point group (once unless ``force``)."""
    global _entry_points_loaded
    if _entry_points_loaded and not force:
        return
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry_point.value}"
        try:
            cls = entry_point.load()
        except Exception as error:
            raise ImportError(
                f"scorer plugin {entry_point.name!r} ({source}) failed to load: {error}"
            ) from error
        _add(entry_point.name, cls, source)
        log.debug("registered scorer plugin %s from %s", entry_point.name, entry_point.value)
    _entry_points_loaded = True


def _unregister(name: str) -> None:
    """Remove ``name`` (tests only)."""
    _REGISTRY.pop(name, None)
    _SOURCES.pop(name, None)


def _doc_line(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.splitlines()[0] if doc else ""


def available() -> list[ScorerInfo]:
    """Every registered scorer (built-ins and plugins), sorted by name."""
    _load_entry_points()
    return [
        ScorerInfo(name, cls.kind, cls.needs, _doc_line(cls), _SOURCES[name])
        for name, cls in sorted(_REGISTRY.items())
    ]


def scorer_class(name: str) -> type[Scorer]:
    """The class registered as ``name``.

    Raises:
        KeyError: unknown name; the message lists the known names.
    """
    _load_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown scorer {name!r}; known scorers: {sorted(_REGISTRY)}") from None


def get_scorer(name: str, **params: Any) -> Scorer:
    """A new instance of scorer ``name`` built with ``params``.

    Args:
        name: registry name (see :func:`available`).
        **params: the scorer's keyword parameters.

    Returns:
        The scorer instance.

    Raises:
        KeyError: unknown name (the message lists the known names).
        TypeError: a parameter the scorer does not take (the message lists those it takes).
        ValueError: a bad parameter value (raised by the scorer, naming it).
    """
    cls = scorer_class(name)
    signature = inspect.signature(cls)
    try:
        signature.bind(**params)
    except TypeError as error:
        accepted = [p for p in signature.parameters if p not in ("self", "args", "kwargs")]
        raise TypeError(
            f"scorer {name!r}: {error}; it takes the keyword parameters {accepted}"
        ) from None
    scorer = cls(**params)
    # also on the instance, so a copy unpickled in a worker that never loaded the plugin's entry
    # point still names itself in error messages
    scorer.name = name
    return scorer
