"""The one command grammar: ``duse NAME [--config FILE] [--set KEY=VALUE ...] [--FIELD VALUE ...]``.

Every config-driven command (``expand``, ``benchmark``, ``zsl``, ``data generate``, ``train``)
takes a YAML file, then one flag per top-level scalar field of its config class (derived from
the class: name, help text and default), then ``--set`` for anything (dotted keys for nested
sections). All of it is validated once, by the config class (:func:`engine.config.load_config`).
The job entrypoints (``python -m jobs.NAME``) are this same parser.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any

__all__ = ["add_config_arguments", "config_from_args", "flag_values"]

_SCALARS = (str, int, float, bool)


def _scalar_type(annotation: Any) -> type | None:
    """``str``/``int``/``float``/``bool`` for a scalar field (``X | None`` included), else None."""
    if annotation in _SCALARS:
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Literal):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if origin is typing.Literal:
            kinds = {type(arg) for arg in args}
            return kinds.pop() if len(kinds) == 1 and kinds <= set(_SCALARS) else None
        return args[0] if len(args) == 1 and args[0] in _SCALARS else None
    return None


def _description(cls: type, name: str) -> str | None:
    return cls.__pydantic_fields__[name].description


def _default_text(field: dataclasses.Field) -> str:
    default = field.default  # a plain value: engine.config.config_class moves it out of Field
    if default is dataclasses.MISSING:
        return "(computed)" if field.default_factory is not dataclasses.MISSING else "required"
    return (
        "none" if default is None else repr(default) if isinstance(default, str) else str(default)
    )


def add_config_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    skip: tuple[str, ...] = (),
    aliases: dict[str, str] | None = None,
    config_file: bool = True,
) -> None:
    """``--config``, ``--set`` and one flag per top-level scalar field of ``cls``.

    A flag that is not given leaves the file's value (or the default) alone; booleans come as
    ``--name`` / ``--no-name``. ``aliases`` adds a second spelling for a field's flag.
    """
    if config_file:
        parser.add_argument(
            "--config", metavar="FILE", help="YAML config (path or fsspec URI); flags override it"
        )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any config key, dotted for sections (train.epochs=3); VALUE is YAML",
    )
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(f"{cls.__name__} keys (flags override --config)")
    for field in dataclasses.fields(cls):
        kind = _scalar_type(hints[field.name])
        if kind is None or field.name in skip:
            continue
        names = [f"--{field.name.replace('_', '-')}"]
        if aliases and field.name in aliases:
            names.append(aliases[field.name])
        text = f"{_description(cls, field.name) or field.name} (default: {_default_text(field)})"
        text = text.replace("%", "%%")
        if kind is bool:
            group.add_argument(
                *names, dest=f"field_{field.name}", action=argparse.BooleanOptionalAction,
                help=text,
            )  # fmt: skip
        else:
            choices = typing.get_args(hints[field.name])  # checked by the class, not argparse
            literal = typing.get_origin(hints[field.name]) is typing.Literal
            metavar = "TEXT" if kind is str else kind.__name__.upper()
            group.add_argument(
                *names,
                dest=f"field_{field.name}",
                metavar="{" + ",".join(map(str, choices)) + "}" if literal else metavar,
                help=text,
            )


def flag_values(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The field flags given on the command line, as config values.

    Text fields keep the text as typed; numbers are read as YAML 1.2 scalars, so a bad number
    reaches the config class and is reported there with its key.
    """
    from engine.config import parse_scalar

    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        given = getattr(args, f"field_{field.name}", None)
        if given is None:
            continue
        kind = _scalar_type(hints[field.name])
        values[field.name] = given if kind in (str, bool) else parse_scalar(given)
    return values


def config_from_args(cls: type, args: argparse.Namespace, **values: Any) -> Any:
    """The config: ``--config`` file, then the field flags and ``values``, then ``--set``."""
    from engine.config import load_config

    merged = {**flag_values(cls, args), **values}
    return load_config(cls, getattr(args, "config", None), args.overrides, **merged)
