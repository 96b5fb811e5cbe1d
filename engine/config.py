"""Every config of the engine: one YAML reader, one override grammar, one validator, JSON Schema.

Config classes are frozen pydantic dataclasses made by :func:`config_class` (unknown keys are
errors; numbers and booleans are strict: no text for a number, no float for an integer, no
text or number for a boolean; an integer is fine for a float) with :class:`ConfigMixin`'s
``from_dict`` / ``from_yaml`` / ``to_dict``. A bad value is one :class:`ConfigError` naming its
key path, e.g. ``train.lr: input should be a valid number, got '1e-3'``.

YAML is read with YAML 1.2 number rules (``1e-3``, ``1E5`` and ``.5`` are floats; PyYAML on its
own follows YAML 1.1 and reads ``1e-3`` as text), both for files (:func:`read_yaml`) and for
command-line values (:func:`parse_scalar`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

import fsspec
import pydantic
import yaml
from pydantic import ConfigDict, StrictBool, StrictFloat, StrictInt, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = [
    "KINDS",
    "ConfigError",
    "ConfigMixin",
    "apply_overrides",
    "config_class",
    "config_kinds",
    "json_schema",
    "load_config",
    "parse_scalar",
    "read_yaml",
    "set_dotted",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad config, in one line: ``key.path: the problem`` (several joined with ``'; '``)."""

    @classmethod
    def of(cls, error: ValidationError, root: type) -> ConfigError:
        """The one-line error for pydantic's ``error`` while validating a ``root`` config."""
        return cls("; ".join(_messages(error, root)))


# --- YAML 1.2 numbers ----------------------------------------------------------------------------

# PyYAML's float pattern (YAML 1.1) wants a dot, so ``1e-3`` is text; YAML 1.2 also takes an
# exponent without a dot and a number without digits before the dot. Kept from 1.1: ``_``
# separators and base 60, which PyYAML's constructor turns into floats.
_FLOAT_12 = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)
_FLOAT_TAG = "tag:yaml.org,2002:float"


class _Yaml12Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 floats; PyYAML's own loaders are left unchanged."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _FLOAT_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(_FLOAT_TAG, _FLOAT_12, list("-+0123456789."))
# The float pattern must be tried before the int one, as in PyYAML (``1e3`` is no int anyway).
for _resolvers in _Yaml12Loader.yaml_implicit_resolvers.values():
    _resolvers.sort(key=lambda resolver: resolver[0] != _FLOAT_TAG)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        words = " ".join(part for part in (error.context, error.problem) if part)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return _one_line(f"{where}{words or 'not valid YAML'}")
    return _one_line(str(error))


def read_yaml(uri: str) -> Any:
    """The YAML document at ``uri`` (a path or any fsspec URI), read with YAML 1.2 numbers.

    Raises:
        ConfigError: the file is missing or unreadable, or not valid YAML (naming the file, and
            the line and column of a syntax error).
    """
    try:
        with fsspec.open(uri, "r", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = "no such file" if isinstance(error, FileNotFoundError) else _one_line(error)
        raise ConfigError(f"{uri}: cannot read the config file: {reason}") from None
    try:
        return yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ConfigError(f"{uri}: not valid YAML: {_yaml_problem(error)}") from None


def parse_scalar(text: str) -> Any:
    """One command-line value read as YAML 1.2 (``"1e-3"`` -> 0.001, ``"3"`` -> 3, ``"abc"`` ->
    ``"abc"``, ``"null"`` -> None, ``"[1, 2]"`` -> ``[1, 2]``).

    Raises:
        ConfigError: ``text`` is not valid YAML (e.g. ``"[1, 2"``).
    """
    try:
        return yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ConfigError(f"cannot read the value {text!r}: {_yaml_problem(error)}") from None


# --- overrides and loading -----------------------------------------------------------------------


def set_dotted(values: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``values`` with each ``{"a.b.c": value}`` of ``changes`` set, creating missing
    sections; ``values`` itself is not changed.

    Raises:
        ConfigError: an empty key part, or a key that goes through something other than a
            mapping.
    """
    result = dict(values)
    for key, value in changes.items():
        names = key.split(".")
        if not all(names):
            raise ConfigError(f"{key!r} is not a key (dotted for sections: train.epochs)")
        node = result
        for depth, name in enumerate(names[:-1]):
            child = node.get(name)
            if child is None:
                child = {}
            elif not isinstance(child, Mapping):
                path = ".".join(names[: depth + 1])
                raise ConfigError(f"{key}: {path} is not a section (it holds {_short(child)})")
            node[name] = node = dict(child)
        node[names[-1]] = value
    return result


def apply_overrides(values: Mapping[str, Any], pairs: Sequence[str]) -> dict[str, Any]:
    """A copy of ``values`` with each ``a.b.c=VALUE`` set (VALUE read by :func:`parse_scalar`),
    in order (a later pair wins), creating missing sections; ``values`` is not changed.

    Raises:
        ConfigError: a pair that is not ``KEY=VALUE``, an empty key part, or a key that goes
            through something other than a mapping.
    """
    result = dict(values)
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key or not all(key.split(".")):
            raise ConfigError(f"an override is KEY=VALUE (KEY dotted for sections), got {pair!r}")
        result = set_dotted(result, {key: parse_scalar(text)})
    return result


def load_config(
    cls: type[T], uri: str | None = None, overrides: Sequence[str] = (), **values: Any
) -> T:
    """A validated ``cls``: the YAML file at ``uri`` (if any), then ``values`` (top-level keys),
    then the dotted ``overrides`` (``KEY=VALUE``, as :func:`apply_overrides`).

    Raises:
        ConfigError: an unreadable or invalid file, a file that is not a mapping, a bad
            override, or a bad value (naming its key path).
    """
    body: Any = {}
    if uri is not None:
        body = read_yaml(uri)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            kind = type(body).__name__
            raise ConfigError(f"{uri}: a config file is a mapping of keys, got a {kind}")
    body = apply_overrides({**body, **values}, overrides)
    return cls.from_dict(body)  # type: ignore[attr-defined]


# --- config classes ------------------------------------------------------------------------------

_STRICT: dict[Any, Any] = {int: StrictInt, float: StrictFloat, bool: StrictBool}


def _strict(annotation: Any) -> Any:
    """``annotation`` with every int, float and bool inside it made strict (pydantic's
    ``strict=True`` on a whole class would also refuse a mapping for a nested section)."""
    if annotation in _STRICT:
        return _STRICT[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return Annotated[(_strict(args[0]), *annotation.__metadata__)]
    if not args or origin is Literal or origin is ClassVar:
        return annotation
    inner = tuple(arg if arg is Ellipsis else _strict(arg) for arg in args)
    if origin in (Union, types.UnionType):
        return Union[inner]  # noqa: UP007 (built from a tuple)
    return origin[inner]


def _as_annotated(annotation: Any, info: FieldInfo) -> tuple[Any, Any]:
    """``(Annotated[annotation, info without its default], the dataclass default)``: the default
    stays a plain dataclass default, so ``dataclasses.fields(cls)[i].default`` is the value."""
    extra = info.json_schema_extra
    described = pydantic.Field(description=info.description, json_schema_extra=extra)
    annotated = Annotated[(annotation, described, *info.metadata)]
    if info.default_factory is not None:
        return annotated, dataclasses.field(default_factory=info.default_factory)
    if info.default is PydanticUndefined:
        return annotated, dataclasses.MISSING
    return annotated, info.default


def config_class(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, strict pydantic dataclass that forbids unknown keys.

    Fields are written ``name: type = Field(default, description=..., ge=...)``; the default
    becomes a plain dataclass default (``dataclasses.fields``, ``replace`` and ``asdict`` work
    as on any dataclass). Every int, float and bool, also inside tuples, lists and dicts, is
    strict. Constructing with a bad value raises :class:`ConfigError`.
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    own = dict(inspect.get_annotations(cls))
    for name in own:
        if typing.get_origin(hints[name]) is ClassVar:
            continue
        annotation = _strict(hints[name])
        default = cls.__dict__.get(name, dataclasses.MISSING)
        if isinstance(default, FieldInfo):
            annotation, default = _as_annotated(annotation, default)
            if default is dataclasses.MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, default)
        own[name] = annotation
    cls.__annotations__ = own
    config = ConfigDict(extra="forbid")
    made = pydantic.dataclasses.dataclass(frozen=True, config=config)(cls)
    init = made.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        try:
            init(self, *args, **kwargs)
        except ValidationError as error:
            raise ConfigError.of(error, type(self)) from None

    made.__init__ = __init__
    return made


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


class ConfigMixin:
    """``from_dict``, ``from_yaml`` and ``to_dict`` of every config class (:func:`config_class`).

    ``config_name`` names the section in messages (``unknown training config keys``).
    """

    config_name: ClassVar[str] = "config"

    @classmethod
    def from_dict(cls: type[T], values: Mapping[str, Any]) -> T:
        """Build from nested dicts (a parsed YAML file); nested sections may be dicts.

        Raises:
            ConfigError: not a mapping, an unknown key at any level, or a bad value.
        """
        if not isinstance(values, Mapping):
            name = cls.config_name  # type: ignore[attr-defined]
            raise ConfigError(f"a {name} is a mapping of keys, got {_short(values)}")
        try:
            return _adapter(cls).validate_python(dict(values))
        except ValidationError as error:
            raise ConfigError.of(error, cls) from None

    @classmethod
    def from_yaml(cls: type[T], uri: str, **overrides: Any) -> T:
        """Read a YAML file (path or fsspec URI); top-level ``overrides`` win over the file.

        Raises:
            ConfigError: as :func:`load_config`.
        """
        return load_config(cls, uri, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists (YAML- and JSON-ready), every default resolved; it
        round-trips through :meth:`from_dict`."""
        return _plain(dataclasses.asdict(self))  # type: ignore[call-overload]


# --- messages ------------------------------------------------------------------------------------

_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")
_MISSING = ("missing", "missing_argument", "missing_keyword_only_argument")
_BOUNDS = (
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "literal_error",
    "too_short",
    "too_long",
)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _section(root: type, loc: Sequence[Any]) -> type | None:
    """The config class at ``loc`` (a pydantic error location) below ``root``, or None."""
    cls: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not dataclasses.is_dataclass(cls):
            return None
        annotation = typing.get_type_hints(cls).get(part)
        if annotation is None:
            return None
        cls = _dataclass_in(annotation)
    return cls if dataclasses.is_dataclass(cls) else None


def _dataclass_in(annotation: Any) -> type | None:
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        found = _dataclass_in(arg)
        if found is not None:
            return found
    return None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _messages(error: ValidationError, root: type) -> list[str]:
    unknown: dict[tuple[Any, ...], list[str]] = {}
    messages: list[str] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = ".".join(str(part) for part in loc)
        kind, msg, value = item["type"], item["msg"], item.get("input")
        if kind in _UNKNOWN:
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
            continue
        prefix = f"{path}: " if path else ""
        if kind in _MISSING:
            messages.append(f"{prefix}a required key is missing")
        elif kind in ("value_error", "assertion_error"):
            text = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
            messages.append(f"{prefix}{text}")
        elif kind in _BOUNDS and loc and isinstance(loc[-1], str):
            section = _section(root, loc[:-1])
            what = getattr(section, "config_name", "config")
            name = loc[-1]
            messages.append(f"{prefix}bad {what} {name}={_short(value)}: {_lower_first(msg)}")
        else:
            messages.append(f"{prefix}{_lower_first(msg)}, got {_short(value)}")
    for parent, names in unknown.items():
        section = _section(root, parent)
        what = getattr(section, "config_name", "config")
        known = sorted(f.name for f in dataclasses.fields(section)) if section else []
        paths = ", ".join(".".join(str(part) for part in (*parent, name)) for name in names)
        messages.insert(0, f"{paths}: unknown {what} keys {sorted(names)}; known: {known}")
    return messages or [_one_line(error)]


# --- kinds and JSON Schema -----------------------------------------------------------------------


KINDS = ("expand", "benchmark", "zsl", "generate", "train")


def config_kinds() -> dict[str, type]:
    """``{kind: config class}`` of every command's config (imported on call: the classes import
    this module)."""
    from engine.benchmark.config import BenchmarkConfig
    from engine.data.generate import GenerateConfig
    from engine.expansion.config import ExpandConfig
    from engine.training import TrainConfig
    from engine.zsl.config import ZslConfig

    classes = (ExpandConfig, BenchmarkConfig, ZslConfig, GenerateConfig, TrainConfig)
    return dict(zip(KINDS, classes, strict=True))


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of the config ``kind`` (one of :data:`KINDS`), with every field's
    description, default and bounds.

    Raises:
        ConfigError: an unknown kind.
    """
    kinds = config_kinds()
    if kind not in kinds:
        raise ConfigError(f"unknown config kind {kind!r}; known: {sorted(kinds)}")
    return _adapter(kinds[kind]).json_schema()
