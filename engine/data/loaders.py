"""Convert users' real dataset files into the canonical format (see :mod:`engine.data.schema`).

Four sources (``reference/amr_data.md`` sections 1-2 for the RML files):

* ``rml2016``: the RML2016.10a/10b pickle, a dict ``{(mod, snr): float32 [n, 2, L]}``, read with
  a restricted unpickler that only builds numpy arrays (pickle can run arbitrary code);
* ``rml2018``: the RML2018.01a HDF5 file with ``X (N, L, 2)``, one-hot ``Y (N, 24)`` and
  ``Z (N, 1)``, streamed in contiguous row chunks so memory does not grow with the file;
* ``npz``: a plain ``.npz`` with real ``X (N, 2, L)`` or complex ``X (N, L)``, integer or
  class-name ``y``, optional ``snr`` (absent or NaN: unknown) and optional ``classes``, read
  without pickle and streamed row by row from the archive;
* ``sigmf``: a SigMF recording, its labelled annotations cut into frames
  (:mod:`engine.data.sigmf`, needs the ``sigmf`` extra).

``src`` may be a local path or any fsspec URI (SigMF: a local path). Every converter takes
``sample_rate_hz``, recorded in ``dataset.json`` (SigMF files carry their own). The output is
written with :class:`engine.data.store.DatasetWriter`: checks that are cheap run before
anything is written, and any later failure removes everything written, so ``out`` is complete
or absent. The source file's name and SHA-256 go into ``dataset.json``.
"""

from __future__ import annotations

import codecs
import hashlib
import importlib
import inspect
import logging
import math
import numbers
import pickle
import posixpath
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import IO, Any

import fsspec
import numpy as np

from engine._internal.hashing import HASH_CHUNK_BYTES, sha256_file
from engine.data.schema import MAX_CLASSES, DatasetMeta, Frames
from engine.data.sigmf import convert_sigmf
from engine.data.store import (
    DEFAULT_SHARD_BYTES,
    DatasetWriter,
    check_sample_rate_hz,
    resolve,
)

__all__ = [
    "KINDS",
    "RML2018_CLASS_ORDERS",
    "convert",
    "convert_npz",
    "convert_rml2016",
    "convert_rml2018",
    "convert_sigmf",
    "load_rml2016_pickle",
]

log = logging.getLogger(f"duse.{__name__}")

# The one-hot column order of GOLD_XYZ_OSC.0001_1024.hdf5 as the community (and the paper) uses
# it; it matches the data (amr_data.md 2.2).
# fmt: off
_RML2018_COMMUNITY = (
    "OOK", "4ASK", "8ASK", "BPSK", "QPSK", "8PSK", "16PSK", "32PSK",
    "16APSK", "32APSK", "64APSK", "128APSK", "16QAM", "32QAM", "64QAM", "128QAM",
    "256QAM", "AM-SSB-WC", "AM-SSB-SC", "AM-DSB-WC", "AM-DSB-SC", "FM", "GMSK", "OQPSK",
)
# The order of the classes.txt shipped with the file. It does not match the Y columns
# (radioML/dataset issue #25); it is kept only to reproduce results made with it.
_RML2018_LEGACY = (
    "32PSK", "16APSK", "32QAM", "FM", "GMSK", "32APSK", "OQPSK", "8ASK",
    "BPSK", "8PSK", "AM-SSB-SC", "4ASK", "16PSK", "64APSK", "128QAM", "128APSK",
    "AM-DSB-SC", "AM-SSB-WC", "64QAM", "QPSK", "256QAM", "AM-DSB-WC", "OOK", "16QAM",
)
# fmt: on
RML2018_CLASS_ORDERS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {"community": _RML2018_COMMUNITY, "legacy": _RML2018_LEGACY}
)

_NPZ_CHUNK_BYTES = 32 * 2**20
_REAL_KINDS = "fiu"  # numpy dtype kinds accepted for sample and SNR values


# --------------------------------------------------------------------------- restricted pickle


class _RefusedGlobalError(pickle.UnpicklingError):
    """The pickle asked for a global outside the allow-list."""


def _numpy_internal(name: str) -> Any:
    """``numpy._core.<name>`` (numpy 2) or ``numpy.core.<name>`` (numpy 1)."""
    module_name, attribute = name.rsplit(".", 1)
    for prefix in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{prefix}.{module_name}"), attribute)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {name}")  # pragma: no cover - every numpy >= 1.16 has it


def _latin1_encode(text: object, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` limited to what Python 3 protocol-2 pickles use for ``bytes``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise _RefusedGlobalError(
            f"refused _codecs.encode({type(text).__name__}, {encoding!r}, {errors!r}): "
            "only latin1 encoding of str is allowed"
        )
    return codecs.encode(text, "latin1")


class _NdarrayMarker:
    """What ``numpy.ndarray`` resolves to in a pickle: a marker, not the class.

    Real pickles name ``ndarray`` only as the first argument of ``_reconstruct``; calling the
    class directly (``ndarray(shape, dtype, buffer, offset, strides)``) would build arrays of
    uninitialised memory, or of any size from a few bytes (zero strides). The guarded
    ``_reconstruct`` is the only place that accepts the marker.
    """

    __slots__ = ()

    def __call__(self, *args: object, **kwargs: object) -> Any:
        raise _RefusedGlobalError(
            "refused numpy.ndarray(...): arrays are only built from the bytes the pickle holds"
        )

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY = _NdarrayMarker()


def _guarded_reconstruct(reconstruct: Callable[..., Any]) -> Callable[..., Any]:
    """``_reconstruct`` as ``ndarray.__reduce__`` calls it: an empty ndarray, filled by BUILD.

    Refusing other shapes keeps a hostile pickle from allocating memory it does not carry: the
    BUILD step (``ndarray.__setstate__``) only accepts raw bytes of exactly the array's size.
    """

    def guarded(subtype: object, shape: object, dtype: object) -> Any:
        if subtype is not _NDARRAY or shape not in ((0,), 0):
            raise _RefusedGlobalError(
                f"refused _reconstruct({subtype!r}, {shape!r}): only empty ndarrays are built"
            )
        return reconstruct(np.ndarray, shape, dtype)

    return guarded


def _guarded_frombuffer(frombuffer: Callable[..., Any]) -> Callable[..., Any]:
    """``_frombuffer`` (protocol 5 arrays) only over in-band bytes, so never larger than them."""

    def guarded(buffer: object, dtype: object, shape: object, order: object, *rest: object) -> Any:
        if (
            not isinstance(buffer, bytes | bytearray)
            or len(rest) > 1
            or order not in ("C", "F", "K")
        ):
            raise _RefusedGlobalError(
                f"refused _frombuffer({type(buffer).__name__}, order={order!r}): only arrays "
                "over bytes held in the pickle are built"
            )
        return frombuffer(buffer, dtype, shape, order, *rest)

    return guarded


def _allowed_globals() -> dict[tuple[str, str], Any]:
    reconstruct = _guarded_reconstruct(_numpy_internal("multiarray._reconstruct"))
    scalar = _numpy_internal("multiarray.scalar")
    frombuffer = _guarded_frombuffer(_numpy_internal("numeric._frombuffer"))
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes ``bytes`` (the array payload) as _codecs.encode(str, "latin1") at
        # protocol 2; the guard refuses any other use.
        ("_codecs", "encode"): _latin1_encode,
    }
    for prefix in ("numpy.core", "numpy._core"):  # numpy 1 writes the first, numpy 2 the second
        allowed[(f"{prefix}.multiarray", "_reconstruct")] = reconstruct
        # numpy scalars, e.g. SNR keys built with np.arange: scalar(dtype, raw bytes).
        allowed[(f"{prefix}.multiarray", "scalar")] = scalar
        # protocol >= 5 pickles of contiguous arrays: frombuffer(buffer).reshape(shape).
        allowed[(f"{prefix}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can only build numpy arrays, dtypes and scalars."""

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if _RestrictedUnpickler._allowed is None:
            _RestrictedUnpickler._allowed = _allowed_globals()
        try:
            return _RestrictedUnpickler._allowed[(module, name)]
        except KeyError:
            raise _RefusedGlobalError(
                f"refused global {module}.{name}: an RML2016 pickle holds only numpy arrays"
            ) from None


def load_rml2016_pickle(fileobj: IO[bytes]) -> dict:
    """Unpickle an RML2016.10a/10b file without running arbitrary code.

    Only numpy array, dtype and scalar constructors may be loaded (``amr_data.md`` 1.2); any
    other global is refused before it is imported or called. Strings are decoded as latin1, so
    Python-2 pickles load; Python-3 pickles of any protocol load too.

    Args:
        fileobj: a binary file object positioned at the start of the pickle.

    Returns:
        The dict as stored, normally ``{(mod, snr): ndarray}`` (keys are not normalised here:
        ``mod`` may be bytes).

    Raises:
        pickle.UnpicklingError: the pickle asks for a global outside the allow-list (named in
            the message).
        ValueError: the pickle is truncated or corrupt, or holds something other than a dict.
    """
    reader = fileobj if isinstance(fileobj, _HashingReader) else _HashingReader(fileobj)
    unpickler = _RestrictedUnpickler(reader, encoding="latin1")
    try:
        data = unpickler.load()
    except _RefusedGlobalError:
        raise
    except (
        EOFError,
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        LookupError,
        AttributeError,
        OverflowError,
        MemoryError,
    ) as err:
        raise ValueError(f"truncated or corrupt pickle: {type(err).__name__}: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"an RML2016 pickle holds a dict, this one holds {type(data).__name__}")
    _check_backed_by_file(data, reader.size_bytes)
    return data


def _check_backed_by_file(data: dict, size_bytes: int) -> None:
    """Every array byte must come from the file: no array may appear twice (a pickle can name
    one array under many keys), and together they cannot hold more bytes than were read."""
    arrays = [value for value in data.values() if isinstance(value, np.ndarray) and value.nbytes]
    starts = {a.__array_interface__["data"][0] for a in arrays}
    if len(starts) != len(arrays):
        raise ValueError("corrupt pickle: the same array is stored under more than one key")
    held = sum(a.nbytes for a in arrays)
    if held > size_bytes:
        raise ValueError(
            f"corrupt pickle: its arrays hold {held:,} bytes but the file has only "
            f"{size_bytes:,}; every array must be stored in the file"
        )


class _HashingReader:
    """A read-only file wrapper that hashes and counts every byte read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()
        self.size_bytes = 0

    def _seen(self, data: bytes | memoryview) -> None:
        self.digest.update(data)
        self.size_bytes += len(data)

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._seen(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._raw.readline(size)
        self._seen(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count = self._raw.readinto(buffer)
        self._seen(memoryview(buffer)[:count])
        return count

    def finish(self) -> str:
        """Read what is left (bytes after the pickle's STOP) and return the hex digest."""
        while chunk := self.read(HASH_CHUNK_BYTES):
            del chunk
        return self.digest.hexdigest()


# --------------------------------------------------------------------------- shared helpers


def _check_out(out: str, overwrite: bool) -> None:
    """Fail before reading a large source when ``out`` exists (the writer checks again)."""
    fs, path = resolve(out)
    if fs.exists(path) and not overwrite:
        raise FileExistsError(f"{out} already exists (pass overwrite to replace it)")


def _source(kind: str, src: str, sha256: str, size_bytes: int, **options: Any) -> dict[str, Any]:
    """The provenance recorded in ``dataset.json``."""
    _fs, path = resolve(src)
    return {
        "kind": kind,
        "file": posixpath.basename(path),
        "sha256": sha256,
        "size_bytes": size_bytes,
        **options,
    }


def _frame_bar(total: int, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", unit_scale=True, disable=not progress)


def _snr_grid(snr_db: np.ndarray) -> list[float]:
    """The ascending distinct known SNR values (NaN left out), as stored in the ``snr`` column."""
    snr_db = np.asarray(snr_db, np.float32)
    return [float(v) for v in np.unique(snr_db[~np.isnan(snr_db)])]


def _decoded(name: object) -> str:
    """A class name read from a file: bytes as UTF-8 (latin1 when not UTF-8), else ``str``."""
    if isinstance(name, bytes):
        try:
            return name.decode("utf-8")
        except UnicodeDecodeError:
            return name.decode("latin1")
    return str(name)


def label_indices(
    names: np.ndarray | Sequence[str], classes: Sequence[str] | None, what: str
) -> tuple[np.ndarray, list[str]]:
    """Class names per frame to int16 labels.

    Args:
        names: one class name per frame, ``[n]`` (str or bytes).
        classes: the class list in label order; ``None``: the sorted distinct names.
        what: what ``names`` is, for messages (e.g. ``"y"``).

    Returns:
        ``(labels, classes)``: int16 labels ``[n]`` indexing ``classes``.

    Raises:
        ValueError: an empty name, or (with ``classes``) a name that is not one of them.
    """
    distinct, inverse = np.unique(np.asarray(names), return_inverse=True)
    found = [_decoded(v) for v in distinct.tolist()]
    if "" in found:
        raise ValueError(f"{what} holds an empty class name")
    if classes is None:
        classes = _check_classes(sorted(set(found)), f"the class names in {what}")
    else:
        classes = _check_classes(classes, "classes")
        unknown = [name for name in found if name not in classes]
        if unknown:
            raise ValueError(
                f"{what} holds class names not in the classes {classes}: {unknown[:5]}"
            )
    position = {name: k for k, name in enumerate(classes)}
    lookup = np.array([position[name] for name in found], np.int16)
    return lookup[inverse.reshape(-1)], classes


def _check_classes(classes: Sequence[str], what: str) -> list[str]:
    if isinstance(classes, str | bytes):
        raise ValueError(f"{what} must be a list of class names, got the string {classes!r}")
    names = [str(c) for c in classes]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{what} must be non-empty and unique, got {names}")
    if len(names) > MAX_CLASSES:
        raise ValueError(f"{what} has {len(names)} classes; at most {MAX_CLASSES} are supported")
    return names


def _as_float32(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, reported as such
        return values.astype(np.float32, copy=False)


def _check_finite(iq: np.ndarray, key: str, first_row: int) -> None:
    finite = np.isfinite(iq).reshape(len(iq), -1).all(axis=1)
    if not finite.all():
        bad = first_row + int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{key} holds NaN or inf (first at row {bad})")


def _check_real(array_dtype: np.dtype, key: str) -> None:
    if array_dtype.kind not in _REAL_KINDS:
        hint = "; store I and Q as two real channels" if array_dtype.kind == "c" else ""
        raise ValueError(f"{key} must hold real numbers, got dtype {array_dtype}{hint}")


def _as_column(values: np.ndarray, key: str, rows: int) -> np.ndarray:
    """A ``(rows,)`` or ``(rows, 1)`` array as ``(rows,)``."""
    if values.shape not in ((rows,), (rows, 1)):
        raise ValueError(f"{key} must have shape ({rows},) or ({rows}, 1), got {values.shape}")
    return values.reshape(rows)


# --------------------------------------------------------------------------- RML2016 pickle


def _rml2016_key(key: object) -> tuple[str, float]:
    """``(mod, snr)`` with ``mod`` as str and ``snr`` as the stored float32 value."""
    if not (isinstance(key, tuple) and len(key) == 2):
        raise ValueError(f"RML2016 key {key!r} is not a (modulation, snr) pair")
    mod, snr = key
    if isinstance(mod, bytes):
        try:
            mod = mod.decode("utf-8")
        except UnicodeDecodeError:
            mod = mod.decode("latin1")
    if not isinstance(mod, str) or not mod:
        raise ValueError(f"RML2016 key {key!r}: the modulation must be a non-empty string")
    if isinstance(snr, bool | np.bool_) or not isinstance(snr, numbers.Real):
        raise ValueError(f"RML2016 key {key!r}: the SNR must be a number")
    if not math.isfinite(float(snr)):
        raise ValueError(f"RML2016 key {key!r}: the SNR must be finite")
    return mod, float(np.float32(snr))


def _rml2016_frames(data: dict) -> tuple[dict[tuple[str, float], np.ndarray], int]:
    """Validate the unpickled dict; return float32 arrays by normalised key and ``L``."""
    if not data:
        raise ValueError("the RML2016 pickle holds an empty dict")
    for key, value in data.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in _REAL_KINDS:
            kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise ValueError(f"RML2016 key {key!r}: value must be a real numpy array, got {kind}")
        if value.ndim != 3 or value.shape[1] != 2 or value.shape[2] < 1:
            raise ValueError(f"RML2016 key {key!r}: shape must be (n, 2, L), got {value.shape}")
    # The most common L is the dataset's; the message names a key that differs from it.
    length = Counter(value.shape[2] for value in data.values()).most_common(1)[0][0]
    frames: dict[tuple[str, float], np.ndarray] = {}
    for key, value in data.items():
        norm = _rml2016_key(key)
        if norm in frames:
            raise ValueError(f"RML2016 key {key!r} repeats key {norm!r} after decoding")
        if value.shape[2] != length:
            raise ValueError(
                f"RML2016 key {key!r}: frames have {value.shape[2]} samples, "
                f"most keys have {length}"
            )
        iq = _as_float32(value)
        finite = np.isfinite(iq).reshape(len(iq), -1).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"RML2016 key {key!r}: frame {bad} holds NaN or inf (as float32)")
        frames[norm] = iq
    if sum(len(v) for v in frames.values()) == 0:
        raise ValueError("the RML2016 pickle holds no frames")
    return frames, int(length)


def convert_rml2016(
    src: str,
    out: str,
    *,
    sample_rate_hz: float | None = None,
    overwrite: bool = False,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: bool = False,
) -> DatasetMeta:
    """Convert an RML2016.10a/10b pickle (``{(mod, snr): float32 [n, 2, L]}``) to ``out``.

    Classes are the sorted modulation names (the conventional label order), SNRs are sorted,
    and ids run 0, 1, ... in (class, SNR, frame) order. The whole pickle is loaded first (the
    format allows nothing else) and checked before anything is written.

    Args:
        src: the pickle, a local path or fsspec URI (e.g. ``RML2016.10a_dict.pkl``).
        out: dataset directory to create (any fsspec URI).
        sample_rate_hz: the frames' sample rate, recorded in ``dataset.json`` (the pickle has
            none; RML2016.10a was generated at a nominal 200 kHz).
        overwrite: replace ``out`` if it exists.
        shard_bytes: target shard size.
        progress: show a progress bar.

    Returns:
        The metadata written to ``out/dataset.json``.

    Raises:
        pickle.UnpicklingError: the pickle asks for a global outside the allow-list.
        ValueError: truncated or corrupt pickle, a key/value not in the format (named), or a
            bad ``sample_rate_hz``.
        FileExistsError: ``out`` exists and ``overwrite`` is false.
    """
    sample_rate_hz = check_sample_rate_hz(sample_rate_hz)
    _check_out(out, overwrite)
    with fsspec.open(src, "rb") as handle:
        reader = _HashingReader(handle)
        data = load_rml2016_pickle(reader)
        sha256 = reader.finish()
    frames, length = _rml2016_frames(data)
    del data
    classes = _check_classes(sorted({mod for mod, _snr in frames}), "RML2016 modulations")
    snrs = sorted({snr for _mod, snr in frames})
    missing = [(m, s) for m in classes for s in snrs if (m, s) not in frames]
    if missing:
        log.warning("%s lacks %d (mod, snr) keys, e.g. %s", src, len(missing), missing[:3])
    total = sum(len(v) for v in frames.values())
    source = _source("rml2016", src, sha256, reader.size_bytes)
    log.info("converting %s: %d frames, %d classes, L=%d", src, total, len(classes), length)
    with (
        DatasetWriter(
            out,
            classes,
            length,
            snrs,
            source,
            shard_bytes=shard_bytes,
            overwrite=overwrite,
            sample_rate_hz=sample_rate_hz,
        ) as writer,
        _frame_bar(total, progress) as bar,
    ):
        next_id = 0
        for label, mod in enumerate(classes):
            for snr in snrs:
                iq = frames.get((mod, snr))
                if iq is None or not len(iq):
                    continue
                n = len(iq)
                writer.write(
                    Frames(
                        np.arange(next_id, next_id + n, dtype=np.int64),
                        np.full(n, label, np.int16),
                        np.full(n, snr, np.float32),
                        iq,
                    )
                )
                next_id += n
                bar.update(n)
    return writer.meta


# --------------------------------------------------------------------------- RML2018 HDF5


def _rml2018_classes(class_order: str, classes: Sequence[str] | None) -> tuple[list[str], str]:
    """The class names per Y column and the order's name for ``dataset.json``."""
    if class_order not in RML2018_CLASS_ORDERS:
        raise ValueError(
            f"class_order must be one of {sorted(RML2018_CLASS_ORDERS)}, got {class_order!r}"
        )
    if classes is None:
        return list(RML2018_CLASS_ORDERS[class_order]), class_order
    if class_order != "community":
        raise ValueError("give either classes or class_order='legacy', not both")
    return _check_classes(classes, "classes"), "custom"


@contextmanager
def _open_hdf5(src: str) -> Iterator[Any]:
    """``h5py.File`` on ``src``: by path when local (fast), else on an fsspec file object."""
    import h5py

    fs, path = resolve(src)
    if not fs.exists(path):
        raise FileNotFoundError(f"{src} does not exist")
    local = "file" in ((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol)
    with fsspec.open(src, "rb") as handle:
        try:
            h5 = h5py.File(path if local else handle, "r")
        except OSError as err:
            raise ValueError(f"{src} is not a readable HDF5 file: {err}") from err
        with h5:
            yield h5


def _rml2018_layout(h5: Any, num_classes: int) -> tuple[int, int, bool]:
    """Check X/Y/Z; return ``(N, L, channels_last)``."""
    import h5py

    present = sorted(h5.keys())
    missing = [k for k in ("X", "Y", "Z") if not isinstance(h5.get(k), h5py.Dataset)]
    if missing:
        raise ValueError(f"HDF5 file lacks dataset(s) {missing}; it has {present}")
    X, Y, Z = h5["X"], h5["Y"], h5["Z"]
    if X.ndim != 3 or 2 not in X.shape[1:]:
        raise ValueError(f"X must have shape (N, L, 2) or (N, 2, L), got {X.shape}")
    channels_last = X.shape[2] == 2  # the RML2018 layout; (N, 2, L) otherwise
    rows, length = X.shape[0], X.shape[1] if channels_last else X.shape[2]
    if rows == 0 or length == 0:
        raise ValueError(f"X holds no frames: shape {X.shape}")
    _check_real(X.dtype, "X")
    if Y.shape != (rows, num_classes):
        raise ValueError(
            f"Y must have shape ({rows}, {num_classes}) (one column per class), got {Y.shape}"
        )
    if Y.dtype.kind not in _REAL_KINDS + "b":
        raise ValueError(f"Y must be a numeric one-hot array, got dtype {Y.dtype}")
    if Z.shape not in ((rows,), (rows, 1)):
        raise ValueError(f"Z must have shape ({rows}, 1) or ({rows},), got {Z.shape}")
    _check_real(Z.dtype, "Z")
    return rows, length, channels_last


def _onehot_labels(onehot: np.ndarray, first_row: int) -> np.ndarray:
    """Argmax of each row; a row without a single largest entry is an error."""
    labels = np.argmax(onehot, axis=1)
    peak = onehot[np.arange(len(onehot)), labels]
    ties = (onehot == peak[:, None]).sum(axis=1) != 1
    if ties.any():
        bad = first_row + int(np.flatnonzero(ties)[0])
        raise ValueError(f"Y row {bad} is not one-hot (no single largest column)")
    return labels.astype(np.int16)


def convert_rml2018(
    src: str,
    out: str,
    *,
    class_order: str = "community",
    classes: Sequence[str] | None = None,
    chunk_rows: int = 4096,
    sample_rate_hz: float | None = None,
    overwrite: bool = False,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: bool = False,
) -> DatasetMeta:
    """Convert an RML2018.01a HDF5 file (``X (N, L, 2)``, one-hot ``Y``, ``Z``) to ``out``.

    ``X`` is read in contiguous slices of ``chunk_rows`` rows and transposed to ``[n, 2, L]``;
    memory stays bounded whatever the file size. The label of a row is the argmax of its ``Y``
    row, its id is its row index, its SNR is ``Z``. The file is read twice: once to hash it,
    once to convert it.

    Args:
        src: the HDF5 file, a local path or fsspec URI (``GOLD_XYZ_OSC.0001_1024.hdf5``).
        out: dataset directory to create (any fsspec URI).
        class_order: names of the ``Y`` columns: ``"community"`` (the paper order, which
            matches the data; default) or ``"legacy"`` (the ``classes.txt`` order, which does
            not). See :data:`RML2018_CLASS_ORDERS`.
        classes: your own names for the ``Y`` columns instead (for files with other classes).
        chunk_rows: rows read per slice.
        sample_rate_hz: the frames' sample rate, recorded in ``dataset.json`` (the file has
            none).
        overwrite: replace ``out`` if it exists.
        shard_bytes: target shard size.
        progress: show progress bars.

    Returns:
        The metadata written to ``out/dataset.json``.

    Raises:
        ValueError: missing ``X``/``Y``/``Z`` (named with the keys present), a wrong shape or
            dtype, a ``Y`` row that is not one-hot, NaN/inf in ``X`` or ``Z``, a bad option
            (including ``sample_rate_hz``).
        FileNotFoundError: ``src`` does not exist.
        FileExistsError: ``out`` exists and ``overwrite`` is false.
    """
    names, order_name = _rml2018_classes(class_order, classes)
    sample_rate_hz = check_sample_rate_hz(sample_rate_hz)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    _check_out(out, overwrite)
    with _open_hdf5(src) as h5:
        rows, length, channels_last = _rml2018_layout(h5, len(names))
        X, Y = h5["X"], h5["Y"]
        snr_db = _as_column(np.asarray(h5["Z"][()]), "Z", rows).astype(np.float32)
        if not np.isfinite(snr_db).all():
            raise ValueError(f"Z holds NaN or inf (first at row {np.argmin(np.isfinite(snr_db))})")
        sha256, size_bytes = sha256_file(src, progress=progress)
        source = _source("rml2018", src, sha256, size_bytes, class_order=order_name)
        log.info("converting %s: %d frames, %d classes, L=%d", src, rows, len(names), length)
        with (
            DatasetWriter(
                out,
                names,
                length,
                _snr_grid(snr_db),
                source,
                shard_bytes=shard_bytes,
                overwrite=overwrite,
                sample_rate_hz=sample_rate_hz,
            ) as writer,
            _frame_bar(rows, progress) as bar,
        ):
            for start in range(0, rows, chunk_rows):
                stop = min(rows, start + chunk_rows)
                iq = X[start:stop]
                if channels_last:
                    iq = iq.transpose(0, 2, 1)
                iq = _as_float32(iq)
                _check_finite(iq, "X", start)
                labels = _onehot_labels(Y[start:stop], start)
                writer.write(
                    Frames(np.arange(start, stop, dtype=np.int64), labels, snr_db[start:stop], iq)
                )
                bar.update(stop - start)
    return writer.meta


# --------------------------------------------------------------------------- npz


class _NpyRows:
    """Row chunks of an ``.npy`` member of a zip archive, without loading it whole."""

    def __init__(self, archive: zipfile.ZipFile, member: str) -> None:
        self._archive, self._member = archive, member
        with archive.open(member) as stream:
            self.shape, self.dtype, self._streamable = self._header(stream)

    @staticmethod
    def _header(stream: IO[bytes]) -> tuple[tuple[int, ...], np.dtype, bool]:
        fmt = np.lib.format
        try:
            version = fmt.read_magic(stream)
            if version == (1, 0):
                shape, fortran_order, dtype = fmt.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran_order, dtype = fmt.read_array_header_2_0(stream)
            else:  # version 3 (utf-8 field names): read whole, numpy knows the header
                array = fmt.read_array(stream, allow_pickle=False)
                return array.shape, array.dtype, False
        except ValueError as err:
            raise ValueError(f"X is not a valid .npy array: {err}") from err
        return tuple(shape), np.dtype(dtype), not fortran_order and not np.dtype(dtype).hasobject

    def chunks(self, rows_per_chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_row, array)`` for consecutive row ranges."""
        with self._archive.open(self._member) as stream:
            if not self._streamable:
                log.warning("%s is not a C-order array: reading it whole", self._member)
                array = np.lib.format.read_array(stream, allow_pickle=False)
                for start in range(0, len(array), rows_per_chunk):
                    yield start, array[start : start + rows_per_chunk]
                return
            self._header(stream)
            row_shape = self.shape[1:]
            row_bytes = self.dtype.itemsize * math.prod(row_shape)
            for start in range(0, self.shape[0], rows_per_chunk):
                count = min(rows_per_chunk, self.shape[0] - start)
                payload = stream.read(count * row_bytes)
                if len(payload) != count * row_bytes:
                    raise ValueError(f"X is truncated: row {start + len(payload) // row_bytes}")
                yield start, np.frombuffer(payload, self.dtype).reshape(count, *row_shape)


def _npz_array(archive: zipfile.ZipFile, member: str, key: str) -> np.ndarray:
    with archive.open(member) as stream:
        try:
            return np.lib.format.read_array(stream, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"npz key {key!r} cannot be read without pickle: {err}") from err


def _npz_classes(
    archive: zipfile.ZipFile, members: dict[str, str], classes: Sequence[str] | None
) -> list[str] | None:
    """The class names given: the file's ``classes`` (which must equal the argument when both
    are given), else the argument, else ``None``."""
    given = None if classes is None else _check_classes(classes, "classes")
    if "classes" not in members:
        return given
    stored = _npz_array(archive, members["classes"], "classes")
    if stored.dtype.kind not in "US" or stored.ndim != 1:
        raise ValueError(
            f"npz key 'classes' must be a 1-D array of names, got {stored.dtype} "
            f"with shape {stored.shape}"
        )
    names = _check_classes([_decoded(v) for v in stored.tolist()], "npz key 'classes'")
    if given is not None and given != names:
        raise ValueError(f"classes {given} differ from the file's classes {names}")
    return names


def _npz_layout(shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, int, str]:
    """``(N, L, layout)`` of ``X``: layout ``"complex"`` ``(N, L)``, ``"channels_first"``
    ``(N, 2, L)`` or ``"channels_last"`` ``(N, L, 2)`` (real)."""
    if dtype.kind == "c":
        if len(shape) != 2 or 0 in shape:
            raise ValueError(f"complex X must have shape (N, L), got {shape}")
        return shape[0], shape[1], "complex"
    if len(shape) != 3 or 2 not in shape[1:] or shape[0] == 0 or 0 in shape[1:]:
        raise ValueError(
            f"X must have shape (N, 2, L) or (N, L, 2) (real), or (N, L) (complex), got {shape}"
        )
    _check_real(dtype, "X")
    if shape[1] != 2:
        return shape[0], shape[1], "channels_last"
    return shape[0], shape[2], "channels_first"


def _npz_iq(chunk: np.ndarray, layout: str) -> np.ndarray:
    """Rows of ``X`` in its ``layout`` as float32 ``[n, 2, L]`` (rows I, Q)."""
    if layout == "complex":
        return _as_float32(np.stack((chunk.real, chunk.imag), axis=1))
    return _as_float32(chunk.transpose(0, 2, 1) if layout == "channels_last" else chunk)


def _npz_labels(y: np.ndarray, names: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """int16 labels and the class list from integer labels or class names in ``y``."""
    if y.dtype.kind in "US":
        return label_indices(y, names, "y")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer labels or class names, got dtype {y.dtype}")
    if y.min() < 0:
        raise ValueError(f"y holds negative labels (first at row {np.argmax(y < 0)})")
    if names is None:
        top = int(y.max())
        if top >= MAX_CLASSES:
            raise ValueError(
                f"y has labels up to {top}; at most {MAX_CLASSES} classes are supported"
            )
        names = [f"class_{k}" for k in range(top + 1)]
    if y.max() >= len(names):
        raise ValueError(
            f"y holds label {int(y.max())} (first at row {np.argmax(y >= len(names))}) "
            f"outside the {len(names)} classes {names}"
        )
    return y.astype(np.int16), names


def _npz_snr(archive: zipfile.ZipFile, members: dict[str, str], rows: int) -> np.ndarray:
    """float32 SNRs in dB, NaN where unknown (all of them when the file has no ``snr``)."""
    if "snr" not in members:
        log.warning("the npz has no 'snr' key: the SNR of all %d frames is unknown", rows)
        return np.full(rows, np.nan, np.float32)
    snr = _npz_array(archive, members["snr"], "snr")
    _check_real(snr.dtype, "snr")
    with np.errstate(over="ignore"):  # beyond float32 becomes inf, reported below
        snr_db = _as_column(snr, "snr", rows).astype(np.float32)
    if np.isinf(snr_db).any():
        raise ValueError(f"snr holds inf (first at row {int(np.flatnonzero(np.isinf(snr_db))[0])})")
    unknown = int(np.isnan(snr_db).sum())
    if unknown:
        log.warning("snr is NaN for %d of %d frames: their SNR is unknown", unknown, rows)
    return snr_db


def convert_npz(
    src: str,
    out: str,
    *,
    classes: Sequence[str] | None = None,
    sample_rate_hz: float | None = None,
    overwrite: bool = False,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: bool = False,
) -> DatasetMeta:
    """Convert a ``.npz`` (``X``, ``y``, optional ``snr`` and ``classes``) to ``out``.

    ``X`` is real ``[N, 2, L]`` (``[N, L, 2]`` is accepted when the middle axis is not 2) or
    complex ``[N, L]`` (complex64/complex128, stored as I and Q rows). ``y`` ``[N]`` holds
    integer labels or class names (str or bytes). ``snr`` ``[N]`` holds SNR labels in dB; NaN
    entries, or no ``snr`` key at all, mean an unknown SNR (counted in ``dataset.json``).
    Class names come from the file's ``classes``, else the ``classes`` argument, else (names in
    ``y``) the sorted distinct names, else (integer ``y``) ``class_0 .. class_{max(y)}``. Ids
    are row indices. Nothing is unpickled, and ``X`` is streamed from the archive in chunks.
    docs/datasets.md ("Your own data") describes the layout.

    Args:
        src: the ``.npz`` file, a local path or fsspec URI.
        out: dataset directory to create (any fsspec URI).
        classes: class names in label order, when the file has none; with names in ``y``,
            every name must be one of them.
        sample_rate_hz: the frames' sample rate, recorded in ``dataset.json``.
        overwrite: replace ``out`` if it exists.
        shard_bytes: target shard size.
        progress: show progress bars.

    Returns:
        The metadata written to ``out/dataset.json``.

    Raises:
        ValueError: not an npz, a missing key (named with the keys present), a wrong shape or
            dtype, NaN/inf in ``X``, inf in ``snr``, labels outside the class list, classes
            differing from the file's, a bad ``sample_rate_hz``.
        FileExistsError: ``out`` exists and ``overwrite`` is false.
    """
    sample_rate_hz = check_sample_rate_hz(sample_rate_hz)
    _check_out(out, overwrite)
    with fsspec.open(src, "rb") as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except zipfile.BadZipFile as err:
            raise ValueError(f"{src} is not an .npz archive: {err}") from err
        with archive:
            members = {n[: -len(".npy")]: n for n in archive.namelist() if n.endswith(".npy")}
            missing = [k for k in ("X", "y") if k not in members]
            if missing:
                raise ValueError(f"npz lacks key(s) {missing}; it has {sorted(members)}")
            x_rows = _NpyRows(archive, members["X"])
            rows, length, layout = _npz_layout(x_rows.shape, x_rows.dtype)
            y = _as_column(_npz_array(archive, members["y"], "y"), "y", rows)
            snr_db = _npz_snr(archive, members, rows)
            labels, names = _npz_labels(y, _npz_classes(archive, members, classes))
            sha256, size_bytes = sha256_file(src, progress=progress)
            source = _source("npz", src, sha256, size_bytes)
            row_bytes = 8 * length
            per_chunk = max(1, _NPZ_CHUNK_BYTES // row_bytes)
            log.info("converting %s: %d frames, %d classes, L=%d", src, rows, len(names), length)
            with (
                DatasetWriter(
                    out,
                    names,
                    length,
                    _snr_grid(snr_db),
                    source,
                    shard_bytes=shard_bytes,
                    overwrite=overwrite,
                    sample_rate_hz=sample_rate_hz,
                    snr_unknown_ok=True,  # NaN in snr was checked and reported above
                ) as writer,
                _frame_bar(rows, progress) as bar,
            ):
                for start, chunk in x_rows.chunks(per_chunk):
                    stop = start + len(chunk)
                    iq = _npz_iq(chunk, layout)
                    _check_finite(iq, "X", start)
                    writer.write(
                        Frames(
                            np.arange(start, stop, dtype=np.int64),
                            labels[start:stop],
                            snr_db[start:stop],
                            iq,
                        )
                    )
                    bar.update(stop - start)
    return writer.meta


# --------------------------------------------------------------------------- dispatch

_CONVERTERS: dict[str, Callable[..., DatasetMeta]] = {
    "npz": convert_npz,
    "rml2016": convert_rml2016,
    "rml2018": convert_rml2018,
    "sigmf": convert_sigmf,
}

KINDS: tuple[str, ...] = tuple(sorted(_CONVERTERS))


def convert(kind: str, src: str, out: str, **options: Any) -> DatasetMeta:
    """Convert ``src`` of the given kind to the canonical dataset ``out``.

    Args:
        kind: one of :data:`KINDS` (``"npz"``, ``"rml2016"``, ``"rml2018"``, ``"sigmf"``).
        src: the source file, a local path or fsspec URI.
        out: dataset directory to create (any fsspec URI).
        **options: keyword options of that kind's converter (:func:`convert_rml2016`,
            :func:`convert_rml2018`, :func:`convert_npz`,
            :func:`engine.data.sigmf.convert_sigmf`); an option it does not take is an error.

    Returns:
        The metadata written to ``out/dataset.json``.

    Raises:
        ValueError: an unknown kind or option, or whatever the converter raises.
    """
    converter = _CONVERTERS.get(kind)
    if converter is None:
        raise ValueError(f"unknown kind {kind!r}; choose one of {list(KINDS)}")
    accepted = {
        name
        for name, parameter in inspect.signature(converter).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"{kind} does not take option(s) {unknown}; it takes {sorted(accepted)}")
    return converter(src, out, **options)
