"""Modulation names across datasets, and the alignment of a pool's classes to a target's.

Datasets spell the same modulation differently (RML2016 ``QAM16``, RML2018 ``16QAM``, torchsig
``qam-16``; ``BPSK`` is ``2PSK``). :func:`canonical_name` maps every spelling to one name;
names it does not know are only compared case- and separator-insensitively. Different
modulations are never equated, even where they look alike: ``GFSK`` is not ``GMSK``, ``OOK`` is
not ``2ASK`` (levels {0, 1} vs a two-level ASK whose levels a dataset defines), ``4PAM`` is not
``4ASK``, ``CPFSK`` is not ``2FSK``, ``WBFM`` is not ``FM``, and AM with and without carrier
stay apart. Such pairs are joined only by an explicit ``class_map``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ClassAlignment", "align_classes", "canonical_name"]

# Digital families written as an order and a family name in either order: 16QAM, QAM16.
_FAMILIES = ("APSK", "QAM", "PSK", "ASK", "PAM", "FSK")
_ORDERED = re.compile(rf"^(?:(\d+)({'|'.join(_FAMILIES)})|({'|'.join(_FAMILIES)})(\d+))$")
# Orders that have a name of their own, and the names that mean the same constellation.
_NAMED = {"2PSK": "BPSK", "4PSK": "QPSK", "4QAM": "QPSK"}  # 4QAM: QPSK rotated by 45 degrees
_SYNONYMS = {"AMDSB": "AM-DSB", "AMSSB": "AM-SSB", "AMDSBWC": "AM-DSB-WC", "AMDSBSC": "AM-DSB-SC"}
_SYNONYMS |= {"AMSSBWC": "AM-SSB-WC", "AMSSBSC": "AM-SSB-SC"}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-./]", "", str(name)).upper()


def canonical_name(name: str) -> str:
    """The one spelling of a modulation name (``QAM16``, ``16-QAM``, ``qam_16`` -> ``16QAM``).

    Args:
        name: a class name as a dataset spells it.

    Returns:
        ``<order><family>`` for the ordered digital families (``8PSK``, ``16QAM``, ``4ASK``,
        ``4PAM``, ``2FSK``, ``16APSK``), ``BPSK`` / ``QPSK`` for their order-2 / order-4
        spellings, the hyphenated AM names, and otherwise the name upper-cased without
        separators (so unknown names match only themselves).
    """
    key = _key(name)
    match = _ORDERED.match(key)
    if match:
        order, family = (match[1], match[2]) if match[1] else (match[4], match[3])
        key = f"{int(order)}{family}"
        return _NAMED.get(key, key)
    return _SYNONYMS.get(key, key)


@dataclass(frozen=True)
class ClassAlignment:
    """How each pool class lands in the target's label space.

    Attributes:
        target_classes: the target's class names (its label order).
        pool_classes: the pool's class names (its label order).
        pool_to_target: int64 ``[len(pool_classes)]``: target label of each pool label, -1 for
            a pool class that maps to no target class (its frames are excluded).
        how: per pool class, ``"same"`` (identical name), ``"alias"`` (same canonical name),
            ``"class_map"`` (given explicitly) or ``"excluded"``.
    """

    target_classes: tuple[str, ...]
    pool_classes: tuple[str, ...]
    pool_to_target: np.ndarray
    how: tuple[str, ...]

    @property
    def excluded(self) -> list[str]:
        """Pool classes whose frames are left out."""
        return [
            name for name, to in zip(self.pool_classes, self.pool_to_target, strict=True) if to < 0
        ]

    @property
    def missing(self) -> list[str]:
        """Target classes no pool class maps to."""
        covered = set(self.pool_to_target[self.pool_to_target >= 0].tolist())
        return [name for k, name in enumerate(self.target_classes) if k not in covered]

    def pairs(self) -> list[dict[str, str]]:
        """The mapped pool classes as JSON-ready ``{pool, target, how}`` records."""
        return [
            {"pool": name, "target": self.target_classes[to], "how": how}
            for name, to, how in zip(self.pool_classes, self.pool_to_target, self.how, strict=True)
            if to >= 0
        ]


def _by_canonical(classes: Sequence[str], what: str) -> dict[str, int]:
    """Canonical name -> label; two classes with one canonical name are an error."""
    found: dict[str, int] = {}
    for label, name in enumerate(classes):
        canonical = canonical_name(name)
        if canonical in found:
            other = classes[found[canonical]]
            raise ValueError(f"{what} classes {other!r} and {name!r} are the same modulation")
        found[canonical] = label
    return found


def _lookup(name: str, classes: Sequence[str], canonical: dict[str, int], what: str) -> int:
    """Label of ``name`` in ``classes`` (exact spelling first, then canonical)."""
    if name in classes:
        return list(classes).index(name)
    label = canonical.get(canonical_name(name))
    if label is None:
        raise ValueError(f"class_map names {what} class {name!r}, which is not one of {classes}")
    return label


def align_classes(
    target_classes: Sequence[str],
    pool_classes: Sequence[str],
    class_map: Mapping[str, str | None] | None = None,
) -> ClassAlignment:
    """Map every pool class to a target class, by ``class_map`` first, then by canonical name.

    Args:
        target_classes: the target's class names in label order.
        pool_classes: the pool's class names in label order.
        class_map: ``{pool name: target name}``; a ``None`` value excludes that pool class.
            Several pool classes may map to one target class (``AM-DSB-WC`` and ``AM-DSB-SC``
            to ``AM-DSB``). Names are matched exactly, then by canonical name.

    Returns:
        The alignment; pool classes neither mapped nor sharing a canonical name are excluded.

    Raises:
        ValueError: a ``class_map`` name in neither class list, a non-string entry, or two
            target classes that are the same modulation.
    """
    target_classes, pool_classes = tuple(map(str, target_classes)), tuple(map(str, pool_classes))
    target_canonical = _by_canonical(target_classes, "target")
    pool_canonical = {canonical_name(name): label for label, name in enumerate(pool_classes)}
    explicit: dict[int, int] = {}
    for pool_name, target_name in (class_map or {}).items():
        if not isinstance(pool_name, str) or not isinstance(target_name, str | None):
            raise ValueError(f"class_map entries must be names, got {pool_name!r}: {target_name!r}")
        pool_label = _lookup(pool_name, pool_classes, pool_canonical, "pool")
        explicit[pool_label] = (
            -1
            if target_name is None
            else _lookup(target_name, target_classes, target_canonical, "target")
        )
    mapping, how = [], []
    for label, name in enumerate(pool_classes):
        if label in explicit:
            mapping.append(explicit[label])
            how.append("class_map" if explicit[label] >= 0 else "excluded")
            continue
        to = target_canonical.get(canonical_name(name), -1)
        mapping.append(to)
        how.append("excluded" if to < 0 else "same" if target_classes[to] == name else "alias")
    return ClassAlignment(target_classes, pool_classes, np.asarray(mapping, np.int64), tuple(how))
