"""Strict config sections: every key must be a field of the dataclass it builds."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

__all__ = ["checked_fields"]


def checked_fields(cls: type, values: Any, what: str) -> dict[str, Any]:
    """A copy of ``values`` after checking it is a mapping whose keys are all fields of ``cls``.

    Raises:
        ValueError: not a mapping. KeyError: an unknown key (the message lists the known ones).
    """
    if not isinstance(values, dict):
        raise ValueError(f"{what} must be a mapping, got {values!r}")
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise KeyError(f"unknown {what} keys {sorted(unknown)}; known: {sorted(known)}")
    return dict(values)
