"""Convert a SigMF recording (``REC.sigmf-meta`` + ``REC.sigmf-data``) to the canonical format.

The metadata is read with the ``sigmf`` library (the optional extra ``duse[sigmf]``). Every
annotation with ``core:sample_start`` and ``core:sample_count`` and a label becomes
``floor(sample_count / L)`` non-overlapping frames of ``L`` samples, cut from its first sample
on (the remainder is dropped). Frame ``k`` of an annotation starting at sample ``s`` holds
samples ``s + k·L .. s + (k+1)·L - 1``, stored as float32 ``[2, L]`` (rows I, Q), not
normalised; fixed-point datatypes are scaled to [-1, 1) by the library (its ``autoscale``).

* label: the annotation's ``label_key`` value (default ``core:label``); annotations without
  one, and annotations without ``core:sample_count``, are skipped and counted in a warning;
* SNR: the annotation's ``snr_key`` value (dB) when that key is given and present, else NaN
  (unknown; ``dataset.json`` counts such frames in ``snr_unknown_rows``);
* class names: the sorted distinct labels (or the ``classes`` given); ids: row order
  (annotations in file order, frames in time order);
* sample rate: the global ``core:sample_rate`` (``dataset.json`` ``sample_rate_hz``);
* provenance: ``source`` holds ``kind: sigmf``, the data file's name, SHA-256 and size and the
  metadata file's name and SHA-256. A ``core:sha512`` in the metadata is checked on the same
  pass over the data file.

Only single-channel complex recordings are read (:data:`SUPPORTED_DATATYPES`), from a local
path: the ``sigmf`` library works on files.
"""

from __future__ import annotations

import hashlib
import logging
import math
import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fsspec.implementations.local import LocalFileSystem

from engine.data.schema import DatasetMeta, Frames
from engine.data.store import DEFAULT_SHARD_BYTES, DatasetWriter, check_sample_rate_hz, resolve

__all__ = ["SUPPORTED_DATATYPES", "convert_sigmf"]

log = logging.getLogger(f"duse.{__name__}")

# Complex, one sample = I and Q; 8-bit types have no byte order (SigMF spec, core:datatype).
SUPPORTED_DATATYPES: frozenset[str] = frozenset(
    [
        f"c{kind}_{order}"
        for kind in ("f64", "f32", "i32", "i16", "u32", "u16")
        for order in ("le", "be")
    ]
    + ["ci8", "cu8"]
)
_READ_SAMPLES = 2**22  # samples read at a time: 32 MiB of complex64
_HASH_CHUNK = 8 * 2**20
_SAMPLE_START = "core:sample_start"
_SAMPLE_COUNT = "core:sample_count"


@dataclass(frozen=True)
class _Segment:
    """The frames cut from one annotation."""

    annotation: int  # position in the metadata's annotation list
    first_sample: int  # index into the data file
    num_frames: int
    label: str
    snr_db: float


def _sigmffile() -> Any:
    try:
        from sigmf import sigmffile
    except ImportError as err:
        raise ValueError(
            "reading SigMF needs the sigmf package: pip install 'duse[sigmf]'"
        ) from err
    return sigmffile


def _meta_path(src: str) -> Path:
    """The local ``.sigmf-meta`` path of ``src`` (its ``.sigmf-data`` is accepted too)."""
    fs, path = resolve(src)
    if not isinstance(fs, LocalFileSystem):
        raise ValueError(f"SigMF recordings are read from local files; copy {src} here first")
    meta = Path(path)
    if meta.suffix == ".sigmf-data":
        meta = meta.with_suffix(".sigmf-meta")
    if meta.suffix != ".sigmf-meta":
        raise ValueError(f"sigmf expects a recording's .sigmf-meta file, got {src}")
    if not meta.is_file():
        raise FileNotFoundError(f"{meta} does not exist")
    return meta


def _open(meta: Path) -> Any:
    """The recording as a ``sigmf.SigMFFile``, its data file and datatype checked."""
    sigmffile = _sigmffile()
    from sigmf.error import SigMFError

    try:
        # core:sha512 is checked by _digests, on the pass that also computes the SHA-256
        recording = sigmffile.fromfile(str(meta), skip_checksum=True)
    except (SigMFError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"cannot read SigMF recording {meta}: {err}") from err
    if recording.data_file is None or not Path(recording.data_file).is_file():
        raise ValueError(f"{meta} has no data file: expected {meta.with_suffix('.sigmf-data')}")
    datatype = recording.get_global_field("core:datatype")
    if datatype not in SUPPORTED_DATATYPES:
        raise ValueError(
            f"unsupported SigMF datatype {datatype!r} in {meta}: IQ frames need a complex "
            f"datatype, one of {sorted(SUPPORTED_DATATYPES)}"
        )
    channels = recording.get_global_field("core:num_channels", 1)
    if channels != 1:
        raise ValueError(f"{meta} has {channels} channels; only single-channel recordings load")
    return recording


def _sample_rate(recording: Any, meta: Path, sample_rate_hz: float | None) -> float | None:
    """``core:sample_rate``, or the rate given when the file has none (they must agree)."""
    stored = recording.get_global_field("core:sample_rate")
    if stored is None:
        return sample_rate_hz
    try:
        stored = check_sample_rate_hz(stored)
    except ValueError as err:
        raise ValueError(f"{meta}: core:sample_rate {stored!r} is not a sample rate") from err
    if sample_rate_hz is not None and sample_rate_hz != stored:
        raise ValueError(
            f"sample_rate_hz {sample_rate_hz:g} differs from the file's core:sample_rate {stored:g}"
        )
    return stored


def _whole(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0, got {value!r}")
    return int(value)


def _label(value: object, key: str, index: int) -> str | None:
    """The annotation's class name; ``None`` when it has none."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | numbers.Integral):
        raise ValueError(f"annotation {index}: {key} must be a name, got {value!r}")
    return str(value)


def _snr(annotation: dict[str, Any], snr_key: str | None, index: int) -> float:
    """The annotation's SNR in dB; NaN (unknown) without ``snr_key`` or its value."""
    value = None if snr_key is None else annotation.get(snr_key)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"annotation {index}: {snr_key} must be a number (dB), got {value!r}")
    if math.isinf(value):
        raise ValueError(f"annotation {index}: {snr_key} is {value}, not an SNR")
    return float(value)


def _segments(
    recording: Any, meta: Path, frame_length: int, label_key: str, snr_key: str | None
) -> list[_Segment]:
    """The annotations that give at least one frame, checked against the data file."""
    annotations = recording.get_annotations()
    offset = _whole(recording.get_global_field("core:offset", 0), "core:offset")
    total = recording.sample_count
    segments: list[_Segment] = []
    unlabelled = uncounted = short = no_snr = longest = 0
    for index, annotation in enumerate(annotations):
        label = _label(annotation.get(label_key), label_key, index)
        if _SAMPLE_COUNT not in annotation:
            uncounted += 1
            continue
        if label is None:
            unlabelled += 1
            continue
        start = _whole(annotation.get(_SAMPLE_START), f"annotation {index}: {_SAMPLE_START}")
        count = _whole(annotation[_SAMPLE_COUNT], f"annotation {index}: {_SAMPLE_COUNT}")
        longest = max(longest, count)
        if count < frame_length:
            short += 1
            continue
        first = start - offset
        if first < 0 or first + count > total:
            raise ValueError(
                f"annotation {index} ({label}) covers samples [{start}, {start + count}) but "
                f"the data file holds [{offset}, {offset + total})"
            )
        snr_db = _snr(annotation, snr_key, index)
        no_snr += snr_key is not None and math.isnan(snr_db)
        segments.append(_Segment(index, first, count // frame_length, label, snr_db))
    if unlabelled:
        log.warning("skipped %d annotations without a %s value", unlabelled, label_key)
    if uncounted:
        log.warning("skipped %d annotations without %s", uncounted, _SAMPLE_COUNT)
    if short:
        log.warning("skipped %d annotations shorter than %d samples", short, frame_length)
    if no_snr:
        log.warning("%d annotations lack %s: their SNR is unknown", no_snr, snr_key)
    if segments:
        return segments
    if not annotations:
        raise ValueError(f"{meta} has no annotations to cut frames from")
    if not short:
        raise ValueError(
            f"no annotation of {meta} has both a {label_key} value and {_SAMPLE_COUNT} "
            f"({len(annotations)} annotations)"
        )
    raise ValueError(
        f"frame_length {frame_length} is larger than every labelled annotation of {meta} "
        f"(the longest has {longest} samples)"
    )


def _digests(data_file: Path, expected_sha512: str | None) -> tuple[str, int]:
    """SHA-256 and size of the data file; its ``core:sha512`` checked when given."""
    sha256, sha512, size = hashlib.sha256(), hashlib.sha512(), 0
    with open(data_file, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            sha256.update(chunk)
            if expected_sha512 is not None:
                sha512.update(chunk)
            size += len(chunk)
    if expected_sha512 is not None and sha512.hexdigest() != expected_sha512.lower():
        raise ValueError(f"{data_file} does not match the core:sha512 of its metadata")
    return sha256.hexdigest(), size


def _frames(recording: Any, segment: _Segment, frame_length: int) -> Iterator[np.ndarray]:
    """float32 ``[n, 2, L]`` chunks of one segment's frames, in time order."""
    per_chunk = max(1, _READ_SAMPLES // frame_length)
    for first in range(0, segment.num_frames, per_chunk):
        count = min(per_chunk, segment.num_frames - first)
        samples = recording.read_samples(
            start_index=segment.first_sample + first * frame_length, count=count * frame_length
        )
        rows = np.asarray(samples).reshape(count, frame_length)
        iq = np.stack((rows.real, rows.imag), axis=1).astype(np.float32)
        if not np.isfinite(iq).all():
            raise ValueError(f"annotation {segment.annotation} holds NaN or inf samples")
        yield iq


def convert_sigmf(
    src: str,
    out: str,
    *,
    frame_length: int | None = None,
    label_key: str = "core:label",
    snr_key: str | None = None,
    classes: Sequence[str] | None = None,
    sample_rate_hz: float | None = None,
    overwrite: bool = False,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: bool = False,
) -> DatasetMeta:
    """Convert a SigMF recording's labelled annotations to frames of ``frame_length`` samples.

    See the module docstring for what becomes a frame, its label, SNR and id.

    Args:
        src: the recording's ``.sigmf-meta`` (or ``.sigmf-data``) file, a local path.
        out: dataset directory to create (any fsspec URI).
        frame_length: samples per frame ``L`` (required).
        label_key: the annotation key holding the class name.
        snr_key: the annotation key holding the SNR in dB (``None``: every SNR is unknown).
        classes: class names in label order (every label must be one); default: the sorted
            distinct labels.
        sample_rate_hz: the sample rate when the file has no ``core:sample_rate`` (when it
            has one, the two must agree).
        overwrite: replace ``out`` if it exists.
        shard_bytes: target shard size.
        progress: show a progress bar.

    Returns:
        The metadata written to ``out/dataset.json``.

    Raises:
        ValueError: ``sigmf`` is not installed, an unreadable recording, no data file, an
            unsupported datatype or channel count, no frame at all (``frame_length`` larger
            than every labelled annotation, no labelled annotation), an annotation outside the
            data file, a bad label, SNR or option.
        FileNotFoundError: ``src`` does not exist.
        FileExistsError: ``out`` exists and ``overwrite`` is false.
    """
    from engine.data.loaders import _check_out, _frame_bar, _snr_grid, label_indices

    if isinstance(frame_length, bool) or not isinstance(frame_length, int) or frame_length < 1:
        raise ValueError(f"sigmf needs frame_length, a whole number >= 1, got {frame_length!r}")
    sample_rate_hz = check_sample_rate_hz(sample_rate_hz)
    _check_out(out, overwrite)
    meta_file = _meta_path(src)
    recording = _open(meta_file)
    sample_rate_hz = _sample_rate(recording, meta_file, sample_rate_hz)
    segments = _segments(recording, meta_file, frame_length, label_key, snr_key)
    segment_labels, names = label_indices(
        [s.label for s in segments], classes, f"the {label_key} values"
    )
    data_file = Path(recording.data_file)
    sha256, size_bytes = _digests(data_file, recording.get_global_field("core:sha512"))
    source = {
        "kind": "sigmf",
        "file": data_file.name,
        "sha256": sha256,
        "size_bytes": size_bytes,
        "meta_file": meta_file.name,
        "meta_sha256": hashlib.sha256(meta_file.read_bytes()).hexdigest(),
        "datatype": recording.get_global_field("core:datatype"),
        "label_key": label_key,
        "snr_key": snr_key,
    }
    total = sum(s.num_frames for s in segments)
    log.info(
        "converting %s: %d frames from %d annotations, %d classes, L=%d",
        meta_file,
        total,
        len(segments),
        len(names),
        frame_length,
    )
    with (
        DatasetWriter(
            out,
            names,
            frame_length,
            _snr_grid(np.array([s.snr_db for s in segments], np.float32)),
            source,
            shard_bytes=shard_bytes,
            overwrite=overwrite,
            sample_rate_hz=sample_rate_hz,
            snr_unknown_ok=True,  # NaN is how an annotation without an SNR is stored
        ) as writer,
        _frame_bar(total, progress) as bar,
    ):
        next_id = 0
        for segment, label in zip(segments, segment_labels, strict=True):
            for iq in _frames(recording, segment, frame_length):
                n = len(iq)
                writer.write(
                    Frames(
                        np.arange(next_id, next_id + n, dtype=np.int64),
                        np.full(n, label, np.int16),
                        np.full(n, segment.snr_db, np.float32),
                        iq,
                    )
                )
                next_id += n
                bar.update(n)
    return writer.meta
