"""Physics semantics: class vectors computed from a modulation's definition, with no frames.

A linear modulation is its constellation: ``M`` equiprobable points, scaled here to unit mean
power E[|x|²] = 1. From it we compute (docs/zsl.md, "Physics semantics"):

* the normalised cumulants of Swami & Sadler (2000), with moments M_pq = E[x^(p-q) x*^q]
  taken about zero (not the mean: a unipolar ASK's carrier is part of what a receiver sees,
  and centring would make 2ASK identical to BPSK):

  * C20 = M20, C21 = M21 = 1,
  * C40 = M40 - 3 M20², C41 = M41 - 3 M20 M21, C42 = M42 - |M20|² - 2 M21²,
  * C60 = M60 - 15 M20 M40 + 30 M20³,
  * C61 = M61 - 5 M21 M40 - 10 M20 M41 + 30 M20² M21,
  * C62 = M62 - 6 M20 M42 - 8 M21 M41 - M22 M40 + 6 M20² M22 + 24 M21² M20,
  * C63 = M63 - 9 M21 M42 + 12 M21³ - 3 M20 M43 - 3 M22 M41 + 18 M20 M21 M22;

  rotating the constellation by θ turns C_pq by e^(j(p-2q)θ), so the vector keeps |C_pq| of
  C20, C40, C41, C60, C61, C62 (a classifier sees an arbitrary carrier phase) and the signed
  real C42 and C63, which rotation leaves unchanged;
* |E[x]| (the carrier: non-zero for unipolar ASK/OOK only), distinct amplitude levels,
  distinct phases of the non-zero points, PAPR max|x|² / E[|x|²], bits per symbol log2 M,
  whether the points lie on one line through the origin (|C20| = 1: BPSK, ASK, PAM);
* the seed's Table 3: ``axis_levels`` (our reading of "statistical peaks": the distinct
  in-phase levels, max over I and Q, in the orientation with the fewest; BPSK/QPSK 2, 16QAM 4,
  32QAM 6, 64QAM 8 as in Table 3, unipolar 2ASK 2 where the seed says 4), phase modulation
  (more than one phase), amplitude modulation (more than one amplitude); the order M is carried
  by bits per symbol.

Pulse shape: at the matched filter's symbol-rate samples (the generator's RRC is a Nyquist
pulse) the samples are the symbols, so these are the signal's cumulants; elsewhere a pulse
scales the order-n cumulants of every linear class by one common factor (exactly so for
zero-mean constellations), which carries no class information. OQPSK therefore gets QPSK's
vector (the table rejects the pair).

Values closer than :data:`TOLERANCE` (after unit-power scaling) count as one level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from engine.zsl.attributes import AttributeTable

__all__ = [
    "FAMILIES",
    "PHYSICS",
    "PHYSICS_ATTRIBUTES",
    "TOLERANCE",
    "class_constellation",
    "constellation_points",
    "cumulants",
    "physics_features",
    "physics_table",
    "physics_vector",
    "signed_log",
]

PHYSICS = "physics"
"""The ``attributes`` value of a ZSL config that selects these vectors."""

TOLERANCE = 1e-3
FAMILIES = ("psk", "qam", "ask", "pam", "apsk")

PHYSICS_ATTRIBUTES: tuple[str, ...] = (
    "c20",  # |C20|
    "c40",  # |C40|
    "c41",  # |C41|
    "c42",  # C42 (real, rotation invariant)
    "c60",  # |C60|
    "c61",  # |C61|
    "c62",  # |C62|
    "c63",  # C63 (real, rotation invariant)
    "dc",  # |E[x]|
    "amplitude_levels",
    "phase_levels",
    "axis_levels",  # Table 3 "statistical peaks"
    "papr",  # max |x|² / E[|x|²]
    "bits_per_symbol",  # log2 M
    "real",  # 1: the points lie on one line through the origin
    "phase_modulation",  # Table 3: phase_levels > 1
    "amplitude_modulation",  # Table 3: amplitude_levels > 1
)
"""Entries of :func:`physics_vector`, in order."""


def _unit_power(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return points / math.sqrt(float(np.sum(weights * np.abs(points) ** 2)))


def _weights(points: np.ndarray, weights: Iterable[float] | None) -> np.ndarray:
    if weights is None:
        return np.full(len(points), 1 / len(points))
    w = np.asarray(weights, float)
    if w.shape != points.shape or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(
            f"constellation weights must be {len(points)} finite non-negative numbers, not all 0"
        )
    return w / w.sum()


def _family_points(family: str, order: int, spec: Mapping[str, Any]) -> np.ndarray:
    """Points of ``{family, order}`` (``psk`` takes ``phase``; ``apsk`` takes ``rings``)."""
    from engine.data import modulation

    if family == "psk":
        phase = spec.get("phase", 0.0)
        if isinstance(phase, bool) or not isinstance(phase, int | float):
            raise ValueError(f"psk phase is a number of radians, got {phase!r}")
        return modulation.psk_points(order, float(phase))
    if family == "apsk" and "rings" in spec:
        try:
            rings = [
                float(radius) * np.exp(1j * (float(phase) + 2 * np.pi * np.arange(count) / count))
                for count, radius, phase in spec["rings"]
                if isinstance(count, int) and count >= 1
            ]
        except (TypeError, ValueError):
            rings = []
        if not rings or len(rings) != len(spec["rings"]):
            raise ValueError("apsk rings are [[count >= 1, radius, phase_rad], ...]")
        return np.concatenate(rings)
    try:
        return getattr(modulation, f"{family}_points")(order)
    except (KeyError, ValueError) as error:
        raise ValueError(f"no {family} constellation of order {order}: {error}") from None


def _from_mapping(spec: Mapping[str, Any]) -> np.ndarray:
    family, order = spec.get("family"), spec.get("order")
    known = {"family", "order", "phase"} | ({"rings"} if family == "apsk" else set())
    if family not in FAMILIES or not set(spec) <= known:
        raise ValueError(
            f"a named constellation is {{family, order}} with family one of {FAMILIES} "
            f"(psk also takes phase, apsk rings: [[count, radius, phase], ...]); got {dict(spec)}"
        )
    if "rings" not in spec and (isinstance(order, bool) or not isinstance(order, int) or order < 2):
        raise ValueError(f"constellation order must be an integer >= 2, got {order!r}")
    points = _family_points(family, order or 0, spec)
    if order and len(points) != order:
        raise ValueError(f"{family} rings give {len(points)} points, not order {order}")
    return points


def _from_pairs(spec: Iterable[Any]) -> np.ndarray:
    try:
        pairs = np.asarray(list(spec), float)
    except (TypeError, ValueError):
        raise ValueError("a constellation is a list of [re, im] points") from None
    if pairs.size == 0:
        raise ValueError("a constellation needs at least two points; got none")
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"a constellation is a list of [re, im] points, got shape {pairs.shape}")
    return pairs[:, 0] + 1j * pairs[:, 1]


def constellation_points(spec: Any) -> np.ndarray:
    """Unit-power points ``[M]`` complex128 of a constellation given in any accepted form.

    ``spec``: a generator name (``"16apsk"``, :func:`engine.data.modulation.constellation`),
    ``(family, order)``, ``{family, order}`` (family in :data:`FAMILIES`), a list of
    ``[re, im]`` pairs (YAML), or a complex array.

    Raises:
        ValueError: unknown family or name, an empty list, non-finite or all-zero points,
            fewer than two distinct points, or repeated points.
    """
    if isinstance(spec, str):
        from engine.data.modulation import constellation

        try:
            points = constellation(spec.lower())
        except (KeyError, ValueError):
            raise ValueError(f"unknown constellation name {spec!r}") from None
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        points = _from_mapping({"family": spec[0], "order": spec[1]})
    elif isinstance(spec, Mapping):
        points = _from_mapping(spec)
    elif isinstance(spec, np.ndarray) and spec.ndim == 1:
        points = spec.astype(complex)
    else:
        points = _from_pairs(spec)
    return _checked(points)


def _checked(points: np.ndarray) -> np.ndarray:
    if points.size == 0:
        raise ValueError("a constellation needs at least two points; got none")
    if not np.all(np.isfinite(points)):
        raise ValueError("constellation points must be finite (got inf or nan)")
    power = float(np.mean(np.abs(points) ** 2))
    if power == 0:
        raise ValueError("constellation points are all zero")
    points = points / math.sqrt(power)
    distance = np.abs(points[:, None] - points[None, :]) + np.eye(len(points))
    if len(points) < 2 or distance.min() < TOLERANCE:
        raise ValueError(
            f"a constellation needs at least two distinct points (none closer than {TOLERANCE} "
            "at unit power); repeated points are not allowed"
        )
    return points


def cumulants(points: np.ndarray, weights: Iterable[float] | None = None) -> dict[str, complex]:
    """Normalised cumulants C20 ... C63 of ``points`` (scaled to unit power first).

    Args:
        points: complex constellation points ``[M]``.
        weights: symbol probabilities (default: equiprobable).

    Returns:
        ``{"C20", "C21", "C40", "C41", "C42", "C60", "C61", "C62", "C63"}`` -> complex value,
        for the constellation as given (C20, C40, C41, C60-C62 turn with its rotation; C21 = 1,
        C42 and C63 are real).
    """
    x = _checked(np.asarray(points, complex).ravel())
    w = _weights(x, weights)
    x = _unit_power(x, w)

    def m(p: int, q: int) -> complex:
        return complex(np.sum(w * x ** (p - q) * np.conj(x) ** q))

    m20, m21, m22 = m(2, 0), m(2, 1), m(2, 2)
    m40, m41, m42, m43 = m(4, 0), m(4, 1), m(4, 2), m(4, 3)
    return {
        "C20": m20,
        "C21": m21,
        "C40": m40 - 3 * m20**2,
        "C41": m41 - 3 * m20 * m21,
        "C42": m42 - abs(m20) ** 2 - 2 * m21**2,
        "C60": m(6, 0) - 15 * m20 * m40 + 30 * m20**3,
        "C61": m(6, 1) - 5 * m21 * m40 - 10 * m20 * m41 + 30 * m20**2 * m21,
        "C62": m(6, 2)
        - 6 * m20 * m42
        - 8 * m21 * m41
        - m22 * m40
        + 6 * m20**2 * m22
        + 24 * m21**2 * m20,
        "C63": m(6, 3)
        - 9 * m21 * m42
        + 12 * m21**3
        - 3 * m20 * m43
        - 3 * m22 * m41
        + 18 * m20 * m21 * m22,
    }


def _levels(values: np.ndarray, period: float | None = None) -> int:
    """Distinct values (gaps <= TOLERANCE join); with ``period``, values on a circle."""
    v = np.sort(values % period if period else values)
    count = 1 + int(np.sum(np.diff(v) > TOLERANCE))
    if period and count > 1 and v[0] + period - v[-1] <= TOLERANCE:
        count -= 1  # the first and last level are one across the wrap
    return count


def _axis_levels(x: np.ndarray) -> int:
    """Fewest of max(distinct I levels, distinct Q levels) over all rotations.

    Two points share an I level only when their difference is turned onto the Q axis, so the
    minimum is reached at one of those angles (taken modulo π/2, which swaps I and Q).
    """
    first, second = np.triu_indices(len(x), 1)
    angles = np.unique(np.round((np.pi / 2 - np.angle(x[first] - x[second])) % (np.pi / 2), 9))
    best = len(x)
    for start in range(0, len(angles), 1024):  # bounded memory for large user constellations
        turned = x[None, :] * np.exp(1j * angles[start : start + 1024])[:, None]
        best = min(best, *(max(_levels(row.real), _levels(row.imag)) for row in turned))
    return best


def physics_features(points: Any) -> dict[str, float]:
    """The unscaled entries of :data:`PHYSICS_ATTRIBUTES` for a constellation.

    Args:
        points: anything :func:`constellation_points` accepts.
    """
    x = constellation_points(points)
    c = cumulants(x)
    amplitude = _levels(np.abs(x))
    phase = _levels(np.angle(x[np.abs(x) > TOLERANCE]), 2 * np.pi)
    real = abs(abs(c["C20"]) - 1) <= TOLERANCE
    return {
        **{k.lower(): abs(v) for k, v in c.items() if k not in ("C21", "C42", "C63")},
        "c42": c["C42"].real,
        "c63": c["C63"].real,
        "dc": abs(complex(np.mean(x))),
        "amplitude_levels": float(amplitude),
        "phase_levels": float(phase),
        "axis_levels": float(_axis_levels(x)),
        "papr": float(np.max(np.abs(x) ** 2)),
        "bits_per_symbol": math.log2(len(x)),
        "real": float(real),
        "phase_modulation": float(phase > 1),
        "amplitude_modulation": float(amplitude > 1),
    }


def signed_log(values: np.ndarray) -> np.ndarray:
    """sign(v)·ln(1 + |v|): the scaling of every :func:`physics_vector` entry."""
    return np.sign(values) * np.log1p(np.abs(values))


def physics_vector(points: Any) -> np.ndarray:
    """The physics vector ``[17]`` float32: :func:`physics_features` in the order of
    :data:`PHYSICS_ATTRIBUTES`, each entry scaled by :func:`signed_log` (C63 of BPSK, 16,
    becomes 2.83; 64QAM's 52 phases 3.97; a 0/1 flag 0/0.69). Not L2-normalised (the
    attribute table's ``vectors`` does that).
    """
    features = physics_features(points)
    raw = np.array([features[name] for name in PHYSICS_ATTRIBUTES])
    return signed_log(raw).astype(np.float32)


def class_constellation(name: str, constellations: Mapping[str, Any] | None = None) -> np.ndarray:
    """Unit-power points of class ``name``: the user's, else the generator's.

    Looked up in ``constellations`` (any :func:`constellation_points` form), then in the
    generator's class map (``engine.data.synth``: linear and offset modulations, e.g. QPSK,
    16QAM, 2ASK, OQPSK), then as a constellation name (``"8PSK"`` -> ``8psk``).

    Raises:
        KeyError: no constellation is known for ``name`` (CPM, FSK and analog classes have
            none: give one in ``constellations``).
    """
    if constellations and name in constellations:
        return constellation_points(constellations[name])
    from engine.data.synth import _MODULATORS

    spec = _MODULATORS.get(name)
    if spec is not None and spec.family in ("linear", "offset"):
        return constellation_points(spec.kind)
    if spec is None:
        try:
            return constellation_points(name)
        except ValueError:
            pass
    raise KeyError(
        f"class {name!r} has no constellation for physics semantics"
        + (f" (the generator makes it as {spec.family})" if spec is not None else "")
        + "; give one under `constellations:` ([[re, im], ...] or {family, order})"
    )


def physics_table(
    classes: Iterable[str], constellations: Mapping[str, Any] | None = None
) -> AttributeTable:
    """An :class:`AttributeTable` named ``physics`` whose columns are :data:`PHYSICS_ATTRIBUTES`.

    Values are :func:`physics_vector` entries rounded to 6 decimals, so the table's
    ``onehot`` / ``thermometer`` encodings see clean levels and ``value`` uses them as they are.

    Raises:
        KeyError: a class with no known constellation. ValueError: a bad user constellation,
            or two classes with identical vectors.
    """
    rows = {}
    for name in classes:
        vector = physics_vector(class_constellation(name, constellations))
        rows[name] = tuple(round(float(v), 6) + 0.0 for v in vector)  # + 0.0: no -0.0
    return AttributeTable(PHYSICS, PHYSICS_ATTRIBUTES, rows)
