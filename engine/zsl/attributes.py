"""Class attribute tables (seed Table 3) and their encodings: vectors and description matrices.

A table is YAML: ``name``, ``attributes`` (column names) and ``classes`` (class name -> a mapping
from every attribute to a scalar: number, bool or string). Built-in tables live next to this
module (``sigzsl7``: the seed's table with the BPSK/QPSK collision fixed; ``sigzsl7_paper``: the
table as printed, which is rejected because two rows collide). Any other path is read as a
user table.

Each attribute is quantised to its distinct values over the whole table (levels, sorted) and
encoded per class as

* ``"onehot"`` (the seed, §2.2.1): one bit per level;
* ``"thermometer"``: bit j set when the value is >= level j (j >= 1), so ordinal attributes
  (order, level counts) share bits with their neighbours;
* ``"value"``: the number itself (bools as 0/1; text is an error), one position per
  attribute, for tables of already-scaled numbers such as the physics semantics
  (:mod:`engine.zsl.semantics`).

The *attribute vector* is the concatenation over attributes, L2-normalised (f-CLSWGAN). The
*description encoding* fed to the semantic module's encoding part (Table 1) is a matrix
``[K, T]``: column block a (``field_width`` positions) repeats attribute a's code, K = the
longest code; T = number of attributes x field width >= 47 (the seed's 32 x 47 input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = ["ENCODINGS", "AttributeTable", "builtin_tables", "load_attribute_table"]

ENCODINGS = ("onehot", "thermometer", "value")
BUILTIN_DIR = Path(__file__).parent / "attributes"
MIN_DESCRIPTION_LENGTH = 47  # the seed's encoding length (Table 1: 32 x 47)


def _sort_key(value: Any) -> tuple[str, Any]:
    """Sort numbers and bools by value, strings alphabetically, never across kinds."""
    if isinstance(value, bool | int | float):
        return ("number", float(value))
    return ("text", str(value))


@dataclass(frozen=True)
class AttributeTable:
    """Semantic attributes of each class.

    Attributes:
        name: table name.
        attributes: column names, in order.
        rows: class name -> its values, in column order.
    """

    name: str
    attributes: tuple[str, ...]
    rows: dict[str, tuple[Any, ...]]

    def __post_init__(self) -> None:
        seen: dict[tuple[Any, ...], str] = {}
        for class_name, values in self.rows.items():
            key = tuple(_sort_key(v) for v in values)
            if key in seen:
                raise ValueError(
                    f"attribute table {self.name!r}: classes {seen[key]!r} and {class_name!r} "
                    f"have identical attributes {dict(zip(self.attributes, values, strict=True))}; "
                    "a zero-shot model cannot tell them apart (fix the table)"
                )
            seen[key] = class_name

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names in table order."""
        return tuple(self.rows)

    def select(self, attributes: list[str] | tuple[str, ...]) -> AttributeTable:
        """The table restricted to ``attributes`` (in that order).

        Raises:
            KeyError: an unknown attribute. ValueError: the subset makes two rows identical.
        """
        unknown = [a for a in attributes if a not in self.attributes]
        if unknown or not attributes:
            raise KeyError(
                f"attribute table {self.name!r}: unknown or no attribute columns {unknown}; "
                f"known: {list(self.attributes)}"
            )
        positions = [self.attributes.index(a) for a in attributes]
        rows = {c: tuple(v[p] for p in positions) for c, v in self.rows.items()}
        return AttributeTable(self.name, tuple(attributes), rows)

    def _levels(self, column: int) -> list[Any]:
        values = {_sort_key(v[column]): v[column] for v in self.rows.values()}
        return [values[k] for k in sorted(values)]

    def _codes(self, class_name: str, encoding: str) -> list[np.ndarray]:
        """One 0/1 code per attribute for ``class_name``."""
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown attribute encoding {encoding!r}; known: {ENCODINGS}")
        if class_name not in self.rows:
            raise KeyError(
                f"class {class_name!r} is missing from attribute table {self.name!r} "
                f"(it has {list(self.rows)})"
            )
        if encoding == "value":
            return [self._value(column, v) for column, v in enumerate(self.rows[class_name])]
        codes = []
        for column, value in enumerate(self.rows[class_name]):
            keys = [_sort_key(level) for level in self._levels(column)]
            index = keys.index(_sort_key(value))
            if encoding == "onehot":
                code = np.eye(len(keys), dtype=np.float32)[index]
            else:
                code = (np.arange(1, len(keys)) <= index).astype(np.float32)
            codes.append(code)
        return codes

    def _value(self, column: int, value: Any) -> np.ndarray:
        if not isinstance(value, bool | int | float):
            raise ValueError(
                f"attribute table {self.name!r}: attribute {self.attributes[column]!r} holds "
                f"{value!r}; the 'value' encoding takes numbers and booleans only"
            )
        return np.array([float(value)], np.float32)

    def codes(self, classes: list[str] | tuple[str, ...], encoding: str = "onehot") -> np.ndarray:
        """Unnormalised attribute codes ``[c, D]`` float32 (0/1 unless ``value``), one row per
        class in order.

        Raises:
            KeyError: a class is missing from the table. ValueError: unknown encoding.
        """
        return np.stack([np.concatenate(self._codes(c, encoding)) for c in classes])

    def vectors(self, classes: list[str] | tuple[str, ...], encoding: str = "onehot") -> np.ndarray:
        """Attribute vectors ``[c, D]`` float32: :meth:`codes`, each row L2-normalised."""
        codes = self.codes(classes, encoding)
        return codes / np.linalg.norm(codes, axis=1, keepdims=True).clip(1e-12)

    def description_encodings(
        self, classes: list[str] | tuple[str, ...], encoding: str = "onehot"
    ) -> np.ndarray:
        """Description matrices ``[c, K, T]`` float32 for the semantic module's encoding part.

        Column block a (``ceil(47 / attributes)`` positions wide) holds attribute a's code
        (zero-padded to K, the longest code), so every position reads one quantised attribute.
        """
        per_class = [self._codes(c, encoding) for c in classes]
        height = max(len(code) for code in per_class[0])
        width = math.ceil(MIN_DESCRIPTION_LENGTH / len(self.attributes))
        out = np.zeros((len(classes), height, width * len(self.attributes)), np.float32)
        for row, codes in enumerate(per_class):
            for column, code in enumerate(codes):
                out[row, : len(code), column * width : (column + 1) * width] = code[:, None]
        return out


def builtin_tables() -> list[str]:
    """Names of the built-in attribute tables."""
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.yaml"))


def _parse(body: Any, source: str) -> AttributeTable:
    if not isinstance(body, dict) or set(body) != {"name", "attributes", "classes"}:
        raise ValueError(
            f"{source}: an attribute table has exactly the keys name, attributes, classes"
        )
    attributes = tuple(body["attributes"] or ())
    if not attributes or len(set(attributes)) != len(attributes):
        raise ValueError(f"{source}: `attributes` must list distinct column names")
    rows = {}
    for class_name, values in (body["classes"] or {}).items():
        if not isinstance(values, dict) or set(values) != set(attributes):
            raise ValueError(
                f"{source}: class {class_name!r} must give exactly the attributes "
                f"{list(attributes)}"
            )
        rows[str(class_name)] = tuple(values[a] for a in attributes)
    if len(rows) < 2:
        raise ValueError(f"{source}: an attribute table needs at least two classes")
    return AttributeTable(str(body["name"]), attributes, rows)


def load_attribute_table(name_or_path: str) -> AttributeTable:
    """A built-in table by name (see :func:`builtin_tables`) or a YAML file by path.

    Raises:
        FileNotFoundError: neither a built-in name nor an existing file.
        ValueError: malformed table, or two classes with identical attributes.
    """
    path = BUILTIN_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no attribute table {name_or_path!r}: not a built-in ({builtin_tables()}) nor a file"
        )
    return _parse(yaml.safe_load(path.read_text()), str(path))
