"""Your target set and a pool from another dataset, made into one working dataset.

DUSE's setting is a small labelled target set D_T from the user's own receivers and a large
auxiliary pool D_A from another source. :func:`build_working_set` writes one canonical dataset
that the rest of the engine trains, scores and tests on:

* the target's class list, frame length and sample rate define the label space;
* pool (and test) classes are mapped by :func:`engine.data.classes.align_classes`; frames of a
  class that maps to no target class, or outside the pool SNR window, are left out and counted;
* frames of another length are cropped, padded or resampled (:func:`fit_length`), or refused;
* rows are numbered target, then test, then pool, and keep where they came from in the
  provenance columns ``source``, ``source_id`` and ``source_class`` (``schema.EXTRA_COLUMNS``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from engine.data.classes import ClassAlignment, align_classes
from engine.data.schema import META_NAME, DatasetMeta, Frames
from engine.data.store import DatasetWriter, iter_frames, read_meta, resolve

__all__ = [
    "LENGTH_POLICIES",
    "Sources",
    "WorkingSet",
    "build_working_set",
    "fit_length",
    "in_snr_window",
]

log = logging.getLogger(f"duse.{__name__}")

LENGTH_POLICIES = ("error", "crop", "pad", "resample")
SOURCES = ("target", "test", "pool")


def fit_length(iq: np.ndarray, length: int, policy: str) -> np.ndarray:
    """Frames ``[n, 2, L']`` brought to ``[n, 2, length]``.

    Args:
        iq: float32 frames.
        length: the wanted number of samples.
        policy: ``"crop"`` keeps the first ``length`` samples (needs ``L' >= length``),
            ``"pad"`` appends zeros (needs ``L' <= length``), ``"resample"`` resamples each
            frame to ``length`` samples with a polyphase filter (``scipy.signal.resample_poly``;
            it changes the samples per symbol by ``length / L'``), ``"error"`` refuses.

    Raises:
        ValueError: the lengths differ and the policy cannot bring one to the other.
    """
    have = iq.shape[-1]
    if have == length:
        return iq
    options = f"set length_policy to one of {list(LENGTH_POLICIES[1:])}"
    if policy == "crop" and have > length:
        return np.ascontiguousarray(iq[..., :length])
    if policy == "pad" and have < length:
        padded = np.zeros((*iq.shape[:-1], length), np.float32)
        padded[..., :have] = iq
        return padded
    if policy == "resample":
        ratio = Fraction(length, have)
        out = resample_poly(iq, ratio.numerator, ratio.denominator, axis=-1)
        return np.ascontiguousarray(out[..., :length], np.float32)
    if policy in ("crop", "pad"):
        raise ValueError(f"length_policy {policy} cannot turn L={have} into L={length}; {options}")
    if policy != "error":
        raise ValueError(f"unknown length_policy {policy!r}; choose one of {list(LENGTH_POLICIES)}")
    raise ValueError(f"frames have L={have}, the target has L={length}; {options}")


@dataclass(frozen=True)
class Sources:
    """The datasets of an own-data run and how the pool is fitted to the target.

    Attributes:
        target: your labelled target set (its classes, L and sample rate rule).
        pool: the auxiliary pool, another dataset.
        test: a separate test set (None: a test split is carved from the target).
        class_map: ``{pool class: target class}`` (None excludes a class); other classes are
            matched by canonical modulation name (``engine.data.classes``).
        length_policy: ``error``, ``crop``, ``pad`` or ``resample`` (:func:`fit_length`).
        pool_snr_min_db: keep pool frames with SNR >= this (None: no bound; unknown SNR is
            left out when a bound is set).
        pool_snr_max_db: keep pool frames with SNR <= this.
    """

    target: str
    pool: str
    test: str | None = None
    class_map: dict[str, str | None] = field(default_factory=dict)
    length_policy: str = "error"
    pool_snr_min_db: float | None = None
    pool_snr_max_db: float | None = None

    def __post_init__(self) -> None:
        if self.length_policy not in LENGTH_POLICIES:
            raise ValueError(
                f"unknown length_policy {self.length_policy!r}; choose one of "
                f"{list(LENGTH_POLICIES)}"
            )
        if not isinstance(self.class_map, Mapping):
            raise ValueError(
                f"class_map must map pool names to target names, got {self.class_map!r}"
            )

    @classmethod
    def of(cls, config: Any) -> Sources | None:
        """The sources named by a config's own-data keys (None when it has no ``target``)."""
        if not config.target:
            return None
        keys = ("target", "pool", "test", "length_policy", "pool_snr_min_db", "pool_snr_max_db")
        return cls(class_map=dict(config.class_map or {}), **{k: getattr(config, k) for k in keys})

    def uris(self) -> dict[str, str]:
        """``{source name: URI}`` of the datasets given."""
        return {name: getattr(self, name) for name in SOURCES if getattr(self, name)}


@dataclass(frozen=True)
class WorkingSet:
    """The written working dataset and what went into it.

    Attributes:
        uri: the working dataset.
        meta: its ``dataset.json``.
        report: JSON-ready account: per source the frames kept per target class, the frames
            left out per source class (and why), target classes the pool lacks, lengths and
            sample rates.
    """

    uri: str
    meta: DatasetMeta
    report: dict[str, Any]


def _fingerprint(uri: str) -> str:
    """SHA-256 of a dataset's ``dataset.json`` (shard checksums included)."""
    fs, path = resolve(uri)
    with fs.open(f"{path}/{META_NAME}", "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _describe(sources: Sources) -> dict[str, Any]:
    """What the working set is made of; equal descriptions give identical working sets."""
    body = asdict(sources)
    body["fingerprints"] = {name: _fingerprint(uri) for name, uri in sources.uris().items()}
    return {"kind": "working_set", **body}


def in_snr_window(snr_db: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    """Mask of SNRs inside ``[low, high]`` dB (None: no bound; NaN is outside any bound)."""
    keep = np.ones(len(snr_db), bool)
    if low is not None:
        keep &= snr_db >= low
    if high is not None:
        keep &= snr_db <= high
    return keep


class _Assembler:
    """Writes the sources one after the other with new ids and provenance columns."""

    def __init__(self, writer: DatasetWriter, sources: Sources) -> None:
        self.writer, self.sources = writer, sources
        self.length = writer.meta.length
        self.next_id = 0
        self.report: dict[str, Any] = {}

    def add(self, name: str, uri: str, alignment: ClassAlignment, snr_window: tuple) -> None:
        meta = read_meta(uri)
        kept = np.zeros(len(alignment.target_classes), np.int64)
        left_out = {"no target class": {}, "outside the SNR window": {}}
        for shard, frames in enumerate(iter_frames(uri), 1):
            if shard % 10 == 0 or shard == len(meta.shards):
                log.info("%s: shard %d of %d read", name, shard, len(meta.shards))
            mapped = alignment.pool_to_target[frames.labels.astype(np.int64)]
            in_window = in_snr_window(frames.snr_db, *snr_window)
            for reason, dropped in (
                ("no target class", mapped < 0),
                ("outside the SNR window", (mapped >= 0) & ~in_window),
            ):
                for label, count in zip(
                    *np.unique(frames.labels[dropped], return_counts=True), strict=True
                ):
                    counts = left_out[reason]
                    class_name = meta.classes[label]
                    counts[class_name] = counts.get(class_name, 0) + int(count)
            keep = np.flatnonzero((mapped >= 0) & in_window)
            if len(keep):
                self._write(name, frames.take(keep), mapped[keep], meta)
                kept += np.bincount(mapped[keep], minlength=len(kept))
        self.report[name] = {
            "uri": uri,
            "classes": meta.classes,
            "length": meta.length,
            "sample_rate_hz": meta.sample_rate_hz,
            "kept_per_class": dict(zip(alignment.target_classes, kept.tolist(), strict=True)),
            "left_out_per_class": {k: v for k, v in left_out.items() if v},
            "mapped": alignment.pairs(),
            "missing_target_classes": alignment.missing,
        }

    def _write(self, name: str, frames: Frames, labels: np.ndarray, meta: DatasetMeta) -> None:
        n = len(frames)
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        extra = {
            "source": np.full(n, name, object),
            "source_id": frames.ids.astype(np.int64),
            "source_class": np.asarray(meta.classes, object)[frames.labels.astype(np.int64)],
        }
        iq = fit_length(frames.iq, self.length, self.sources.length_policy)
        self.writer.write(Frames(ids, labels.astype(np.int16), frames.snr_db, iq, extra))


def _warn_about(report: dict[str, Any], target: DatasetMeta) -> None:
    """Log what a user must know: classes left out or missing, other lengths and rates."""
    for name in ("test", "pool"):
        part = report.get(name)
        if part is None:
            continue
        for reason, counts in part["left_out_per_class"].items():
            listed = ", ".join(f"{cls} {n:,}" for cls, n in sorted(counts.items()))
            log.warning(
                "%s: %d frames left out (%s): %s", name, sum(counts.values()), reason, listed
            )
        if part["missing_target_classes"]:
            log.warning(
                "%s has no frames of target classes %s", name, part["missing_target_classes"]
            )
        if part["length"] != target.length:
            log.warning(
                "%s frames have L=%d, fitted to the target's L=%d by length_policy %s",
                name,
                part["length"],
                target.length,
                report["length_policy"],
            )
        rates = (part["sample_rate_hz"], target.sample_rate_hz)
        if None not in rates and rates[0] != rates[1]:
            log.warning("%s sample rate %g Hz differs from the target's %g Hz", name, *rates)


def _check_lengths(sources: Sources, metas: dict[str, DatasetMeta]) -> None:
    """Fail before writing anything when a length cannot be fitted."""
    target = metas["target"].length
    for name, meta in metas.items():
        if meta.length != target:
            probe = np.zeros((1, 2, meta.length), np.float32)
            try:
                fit_length(probe, target, sources.length_policy)
            except ValueError as error:
                raise ValueError(f"{name} {sources.uris()[name]}: {error}") from None


def build_working_set(sources: Sources, out: str, *, overwrite: bool = False) -> WorkingSet:
    """Write the target, test and pool as one dataset in the target's label space.

    An existing working set at ``out`` built from the same sources (same files, class map,
    length policy and SNR window) is reused; one built from other sources is an error.

    Args:
        sources: the datasets and how to fit the pool to the target.
        out: the working dataset's URI (an expansion writes it into its run directory).
        overwrite: replace a working set built from other sources.

    Returns:
        The working set; its report is also in ``dataset.json`` under ``source.report``.

    Raises:
        ValueError: a class map naming unknown classes, lengths the policy cannot fit, a pool
            left empty by the class map and SNR window, or ``out`` built from other sources.
    """
    description = _describe(sources)
    fs, path = resolve(out)
    if fs.exists(f"{path}/{META_NAME}"):
        meta = read_meta(out)
        stored = {k: v for k, v in meta.source.items() if k != "report"}
        if stored == description:
            return WorkingSet(out, meta, meta.source["report"])
        if not overwrite:
            raise ValueError(
                f"{out} holds a working set built from other sources or settings; the "
                "datasets changed since this run started, or choose another --out"
            )
    metas = {name: read_meta(uri) for name, uri in sources.uris().items()}
    target = metas["target"]
    _check_lengths(sources, metas)
    alignments = {"target": align_classes(target.classes, target.classes)}
    if "test" in metas:  # your own test set: names must match (class_map is the pool's)
        alignments["test"] = align_classes(target.classes, metas["test"].classes)
    alignments["pool"] = align_classes(target.classes, metas["pool"].classes, sources.class_map)
    grid = sorted({snr for meta in metas.values() for snr in meta.snr_grid_db})
    with DatasetWriter(
        out,
        target.classes,
        target.length,
        grid,
        description,
        overwrite=True,
        sample_rate_hz=target.sample_rate_hz,
        snr_unknown_ok=True,
    ) as writer:
        assembler = _Assembler(writer, sources)
        windows = {
            "target": (None, None),
            "test": (None, None),
            "pool": (sources.pool_snr_min_db, sources.pool_snr_max_db),
        }
        for name, uri in sources.uris().items():
            assembler.add(name, uri, alignments[name], windows[name])
        report = {**assembler.report, "length_policy": sources.length_policy}
        if sum(report["pool"]["kept_per_class"].values()) == 0:
            raise ValueError(
                f"no pool frame maps to a target class {list(target.classes)} inside the SNR "
                f"window; pool classes are {metas['pool'].classes} (give class_map)"
            )
        writer.meta = replace(writer.meta, source={**description, "report": report})
    _warn_about(report, target)
    return WorkingSet(out, read_meta(out), report)
