"""Whether an output directory's stored config lets a run continue there (expand, benchmark, ZSL).

A run stores its resolved config; a later run on the same directory compares its own with it,
top-level key by top-level key, apart from the keys its caller names as free to change (ones
that cannot change a result, e.g. ``out``). Expand and the benchmark refuse a different config
(:func:`check_resumable`); ZSL runs a group again instead (:func:`config_differences`).
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable, Collection, Mapping
from typing import Any

import fsspec
import yaml

__all__ = ["CONFIG_NAME", "check_resumable", "config_differences", "stored_config"]

CONFIG_NAME = "config.yaml"


def stored_config(out: str, build: Callable[[dict[str, Any]], Any]) -> dict[str, Any] | None:
    """The config a run stored in ``<out>/config.yaml``, with every setting resolved.

    Settings added since that run take their defaults (``build(stored).to_dict()``); a config
    that ``build`` cannot read is returned as stored (so it differs from any valid one).

    Args:
        out: the output directory, a local path or any fsspec URI.
        build: the config class's ``from_dict``.

    Returns:
        The stored config; None when ``out`` holds none.
    """
    fs, path = fsspec.core.url_to_fs(str(out))
    file = posixpath.join(path.rstrip("/"), CONFIG_NAME)
    if not fs.exists(file):
        return None
    with fs.open(file, "rb") as handle:
        stored = yaml.safe_load(handle)
    if not isinstance(stored, dict):  # not a config at all: every key differs
        return {}
    with contextlib.suppress(KeyError, ValueError, TypeError):
        stored = build(stored).to_dict()
    return stored


def config_differences(
    stored: Mapping[str, Any], current: Mapping[str, Any], may_change: Collection[str]
) -> list[str]:
    """The top-level keys, apart from ``may_change``, that only one config has or that differ.

    Returns:
        The keys, sorted; empty when the configs agree.
    """
    keys = (set(stored) | set(current)) - set(may_change)
    return sorted(
        key
        for key in keys
        if key not in stored or key not in current or stored[key] != current[key]
    )


def check_resumable(
    out: str,
    stored: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    may_change: Collection[str],
) -> bool:
    """Whether a run continues one in ``out``; a different config is refused. Writes nothing.

    Args:
        out: the output directory (named in the error).
        stored: the config stored there (:func:`stored_config`); None: ``out`` holds no run.
        current: this run's resolved config (``to_dict()``).
        may_change: top-level keys that may differ (they cannot change a result).

    Returns:
        True when ``out`` holds a run of this config (resume); False when it holds none.

    Raises:
        ValueError: ``out`` holds a run with a different config; the message names the keys.
    """
    if stored is None:
        return False
    differing = config_differences(stored, current, may_change)
    if differing:
        raise ValueError(
            f"{out} holds a run with a different config (keys {differing} differ); "
            "resume with the same config or choose another --out"
        )
    return True
