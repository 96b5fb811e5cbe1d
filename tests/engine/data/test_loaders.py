import hashlib
import io
import os
import pickle
import struct
import uuid

import fsspec
import h5py
import numpy as np
import pytest

from engine.data import loaders
from engine.data.info import dataset_info, format_info
from engine.data.loaders import (
    KINDS,
    RML2018_CLASS_ORDERS,
    convert,
    convert_npz,
    convert_rml2016,
    convert_rml2018,
    load_rml2016_pickle,
)
from engine.data.schema import MAX_CLASSES
from engine.data.store import read_frames, read_meta, verify

MODS = ("QPSK", "BPSK", "8PSK")  # deliberately unsorted
SNRS = (4, -2)
PER_KEY = 5


def _memory_uri(name: str) -> str:
    return f"memory://loaders-{uuid.uuid4().hex}/{name}"


def _leftovers(directory) -> list[str]:
    """Names in ``directory`` other than source files (staging dirs, partial output)."""
    return sorted(p for p in os.listdir(directory) if not p.startswith("src"))


# ------------------------------------------------------------------ RML2016 pickles


def rml2016_dict(length: int = 128, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        (mod, snr): rng.standard_normal((PER_KEY, 2, length)).astype(np.float32)
        for mod in MODS
        for snr in SNRS
    }


def _py2_str(text: str | bytes) -> bytes:
    """A Python-2 ``str`` as cPickle writes it (SHORT_BINSTRING / BINSTRING)."""
    raw = text if isinstance(text, bytes) else text.encode("latin1")
    if len(raw) < 256:
        return b"U" + bytes([len(raw)]) + raw
    return b"T" + struct.pack("<i", len(raw)) + raw


def _py2_int(value: int) -> bytes:
    return b"K" + bytes([value]) if 0 <= value < 256 else b"J" + struct.pack("<i", value)


def _py2_array(array: np.ndarray) -> bytes:
    """A float32 array as Python 2 + numpy 1 pickled it at protocol 2."""
    out = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
    out += _py2_int(0) + b"\x85" + _py2_str("b") + b"\x87R"
    out += b"(" + _py2_int(1) + b"(" + b"".join(_py2_int(d) for d in array.shape) + b"t"
    out += b"cnumpy\ndtype\n" + _py2_str("f4") + _py2_int(0) + _py2_int(1) + b"\x87R"
    out += b"(" + _py2_int(3) + _py2_str("<") + b"NNN" + _py2_int(-1) + _py2_int(-1)
    out += _py2_int(0) + b"tb"
    out += b"\x89" + _py2_str(array.astype("<f4").tobytes()) + b"tb"
    return out


def py2_pickle(data: dict) -> bytes:
    """The RML2016 dict as the original Python-2 cPickle.dump(..., protocol=2) wrote it."""
    out = b"\x80\x02}("
    for (mod, snr), array in data.items():
        out += _py2_str(mod) + _py2_int(snr) + b"\x86" + _py2_array(array)
    return out + b"u."


def _pickled(data: dict, style: str) -> bytes:
    if style == "py2":
        return py2_pickle(data)
    if style == "bytes-keys":
        return pickle.dumps({(m.encode(), s): v for (m, s), v in data.items()})
    if style == "numpy-snr-keys":
        return pickle.dumps({(m, np.int64(s)): v for (m, s), v in data.items()}, protocol=2)
    if style == "float64":
        return pickle.dumps({k: v.astype(np.float64) for k, v in data.items()})
    return pickle.dumps(data, protocol=None if style == "default" else int(style))


def _expected_rml2016(data: dict):
    ids, labels, snrs, iq = [], [], [], []
    for label, mod in enumerate(sorted(MODS)):
        for snr in sorted(SNRS):
            iq.append(data[(mod, snr)])
            labels += [label] * PER_KEY
            snrs += [snr] * PER_KEY
    ids = np.arange(len(labels))
    return ids, np.array(labels), np.array(snrs, np.float32), np.concatenate(iq)


def _assert_rml2016(out: str, data: dict, raw: bytes) -> None:
    meta = read_meta(out)
    assert meta.classes == ["8PSK", "BPSK", "QPSK"]
    assert meta.snr_grid_db == [-2.0, 4.0]
    assert meta.length == 128 and meta.num_rows == len(MODS) * len(SNRS) * PER_KEY
    assert meta.source["kind"] == "rml2016"
    assert meta.source["sha256"] == hashlib.sha256(raw).hexdigest()
    assert meta.source["size_bytes"] == len(raw)
    back = read_frames(out)
    ids, labels, snrs, iq = _expected_rml2016(data)
    np.testing.assert_array_equal(back.ids, ids)
    np.testing.assert_array_equal(back.labels, labels)
    np.testing.assert_array_equal(back.snr_db, snrs)
    np.testing.assert_array_equal(back.iq, iq)
    assert verify(out) == []


@pytest.mark.parametrize(
    "style", ["py2", "2", "default", "5", "bytes-keys", "numpy-snr-keys", "float64"]
)
def test_rml2016_round_trip(tmp_path, style):
    data = rml2016_dict()
    raw = _pickled(data, style)
    src = tmp_path / "src.pkl"
    src.write_bytes(raw)
    out = str(tmp_path / "ds")
    meta = convert_rml2016(str(src), out, shard_bytes=4096)
    assert len(meta.shards) > 1 and meta.source["file"] == "src.pkl"
    _assert_rml2016(out, data, raw)


def test_rml2016_memory_uris():
    data = rml2016_dict()
    raw = py2_pickle(data)
    src = _memory_uri("RML2016.10a_dict.pkl")
    with fsspec.open(src, "wb") as handle:
        handle.write(raw)
    out = _memory_uri("ds")
    meta = convert("rml2016", src, out)
    assert meta.source["file"] == "RML2016.10a_dict.pkl"
    _assert_rml2016(out, data, raw)


def test_load_rml2016_pickle_python2_keys_are_str():
    data = rml2016_dict(length=8)
    loaded = load_rml2016_pickle(io.BytesIO(py2_pickle(data)))
    assert set(loaded) == set(data)
    for key, value in data.items():
        assert loaded[key].dtype == np.float32
        np.testing.assert_array_equal(loaded[key], value)


class _Shell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _Rot13:
    def __reduce__(self):
        import codecs

        return codecs.encode, ("abc", "rot13")


def test_rml2016_refuses_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    payload = {("QPSK", 0): _Shell(f"echo pwned > {marker}")}
    src = tmp_path / "src.pkl"
    src.write_bytes(pickle.dumps(payload, protocol=2))
    out = tmp_path / "ds"
    with pytest.raises(pickle.UnpicklingError, match=r"refused global (posix|os|nt)\.system"):
        convert_rml2016(str(src), str(out))
    assert not marker.exists()
    assert not out.exists() and _leftovers(tmp_path) == []
    # the allowed _codecs.encode only does what protocol-2 bytes need
    with pytest.raises(pickle.UnpicklingError, match="rot13"):
        load_rml2016_pickle(io.BytesIO(pickle.dumps(_Rot13(), protocol=2)))
    with pytest.raises(pickle.UnpicklingError, match=r"refused global builtins\.eval"):
        load_rml2016_pickle(io.BytesIO(b"cbuiltins\neval\n(S'1+1'\ntR."))
    # _reconstruct only builds the empty ndarray that BUILD fills from the file's bytes
    huge = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n(J\x00\x00\x00\x40tU\x01b\x87R."
    with pytest.raises(pickle.UnpicklingError, match="only empty ndarrays"):
        load_rml2016_pickle(io.BytesIO(huge))


class _DirectNdarray:
    """Pickles as a direct call ``numpy.ndarray(*args)`` (no bytes behind the array)."""

    def __init__(self, *args) -> None:
        self.args = args

    def __reduce__(self):
        return np.ndarray, self.args


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (((100, 2, 128), "<f4"), "uninitialised memory"),
        (((400_000, 2, 128), "<f4", b"\0\0\0\0", 0, (0, 0, 0)), "400,000 frames, zero strides"),
        (((2**40, 2, 2048), "<f4"), "a 16 TiB shape"),
    ],
)
def test_rml2016_refuses_ndarray_called_directly(tmp_path, args, what):
    raw = pickle.dumps({("BPSK", 2): _DirectNdarray(*args)}, protocol=4)
    assert len(raw) < 100, what  # the whole "dataset" is a few dozen bytes
    src = tmp_path / "src.pkl"
    src.write_bytes(raw)
    with pytest.raises(pickle.UnpicklingError, match=r"refused numpy\.ndarray\(\.\.\.\)"):
        convert_rml2016(str(src), str(tmp_path / "ds"))
    assert _leftovers(tmp_path) == []
    # numpy.ndarray is still what real pickles name, as _reconstruct's argument
    for protocol in (2, 4, 5):
        loaded = load_rml2016_pickle(io.BytesIO(pickle.dumps(rml2016_dict(8), protocol=protocol)))
        assert {v.shape for v in loaded.values()} == {(PER_KEY, 2, 8)}


class _FromBuffer:
    """Pickles as numpy's protocol-5 ``_frombuffer(buffer, dtype, shape, order)``."""

    def __init__(self, buffer: bytes, shape: tuple[int, ...]) -> None:
        self.buffer, self.shape = buffer, shape

    def __reduce__(self):
        from numpy._core.numeric import _frombuffer

        return _frombuffer, (self.buffer, np.dtype("<f4"), self.shape, "C")


@pytest.mark.parametrize("protocol", [2, 5])
def test_rml2016_arrays_must_be_backed_by_the_file(tmp_path, protocol):
    # one stored array named under 200 keys: 200 x the frames from one array's bytes
    frames = np.ones((50, 2, 128), np.float32)
    raw = pickle.dumps({("BPSK", snr): frames for snr in range(200)}, protocol=protocol)
    assert len(raw) < 2 * frames.nbytes
    src = tmp_path / "src.pkl"
    src.write_bytes(raw)
    with pytest.raises(ValueError, match="same array is stored under more than one key"):
        convert_rml2016(str(src), str(tmp_path / "ds"))
    assert _leftovers(tmp_path) == []
    # one bytes payload read by many _frombuffer calls (the memo hands out the same object)
    payload = frames.tobytes()
    shared = {("BPSK", snr): _FromBuffer(payload, frames.shape) for snr in range(200)}
    with pytest.raises(ValueError, match="same array is stored under more than one key"):
        load_rml2016_pickle(io.BytesIO(pickle.dumps(shared, protocol=protocol)))
    # one _frombuffer call is a legal array
    single = load_rml2016_pickle(
        io.BytesIO(pickle.dumps({("BPSK", 0): _FromBuffer(payload, frames.shape)}))
    )
    np.testing.assert_array_equal(single[("BPSK", 0)], frames)


def test_rml2016_array_bytes_are_bounded_by_the_file_size():
    data = rml2016_dict(length=8)
    raw = pickle.dumps(data, protocol=2)
    held = sum(v.nbytes for v in data.values())
    assert held < len(raw)
    loaded = load_rml2016_pickle(io.BytesIO(raw))
    assert sum(v.nbytes for v in loaded.values()) == held
    with pytest.raises(ValueError, match=f"arrays hold {held:,} bytes but the file has only 10"):
        loaders._check_backed_by_file(loaded, 10)


@pytest.mark.parametrize("keep", [0, 0.5, 0.99])
def test_rml2016_truncated_pickle(tmp_path, keep):
    raw = pickle.dumps(rml2016_dict(), protocol=2)
    src = tmp_path / "src.pkl"
    src.write_bytes(raw[: int(len(raw) * keep)])
    out = tmp_path / "ds"
    with pytest.raises(ValueError, match="truncated or corrupt pickle"):
        convert_rml2016(str(src), str(out))
    assert not out.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("bad_key", "bad_value", "message"),
    [
        (("QPSK", 4), np.zeros((5, 2, 64), np.float32), "frames have 64 samples"),
        (("QPSK", 4), np.zeros((5, 3, 128), np.float32), r"shape must be \(n, 2, L\)"),
        (("QPSK", 4), np.full((5, 2, 128), np.nan, np.float32), "NaN or inf"),
        (("QPSK", 4), np.zeros((5, 2, 128), np.complex64), "real numpy array"),
        (("QPSK", 4, 1), np.zeros((5, 2, 128), np.float32), "not a .modulation, snr. pair"),
        (("QPSK", "high"), np.zeros((5, 2, 128), np.float32), "SNR must be a number"),
    ],
)
def test_rml2016_bad_values_name_the_key(tmp_path, bad_key, bad_value, message):
    data = rml2016_dict()
    data[bad_key] = bad_value
    src = tmp_path / "src.pkl"
    src.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=message) as info:
        convert_rml2016(str(src), str(tmp_path / "ds"))
    assert repr(bad_key) in str(info.value)
    assert _leftovers(tmp_path) == []


def test_rml2016_not_a_dict(tmp_path):
    src = tmp_path / "src.pkl"
    src.write_bytes(pickle.dumps(np.zeros((2, 2, 8), np.float32)))
    with pytest.raises(ValueError, match="holds a dict"):
        convert_rml2016(str(src), str(tmp_path / "ds"))


# ------------------------------------------------------------------ RML2018 HDF5

N_SNR, PER_SNR, LENGTH = 2, 3, 64
N_ROWS = 24 * N_SNR * PER_SNR


def rml2018_arrays(seed: int = 0):
    """The real layout at a small size: mod-major rows, X (N, L, 2), one-hot Y, Z (N, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_ROWS, LENGTH, 2)).astype(np.float32)
    columns = np.repeat(np.arange(24), N_SNR * PER_SNR)  # row = m*N_SNR*PER_SNR + s*PER_SNR + k
    Y = np.eye(24, dtype=np.int64)[columns]
    Z = np.tile(np.repeat([-20, 30], PER_SNR), 24).reshape(-1, 1).astype(np.int64)
    return X, Y, Z


def write_h5(target, **arrays) -> None:
    with h5py.File(target, "w") as h5:
        for key, value in arrays.items():
            h5.create_dataset(key, data=value)


@pytest.fixture
def rml2018_file(tmp_path):
    X, Y, Z = rml2018_arrays()
    src = tmp_path / "src.hdf5"
    write_h5(src, X=X, Y=Y, Z=Z)
    return src, (X, Y, Z)


def test_rml2018_community_order_streams_in_chunks(tmp_path, rml2018_file, monkeypatch):
    src, (X, Y, Z) = rml2018_file
    reads = []
    original = h5py.Dataset.__getitem__

    def recording_getitem(self, key):
        reads.append((self.name, key))
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", recording_getitem)
    out = str(tmp_path / "ds")
    meta = convert_rml2018(str(src), out, chunk_rows=10, shard_bytes=8192)
    monkeypatch.undo()
    x_reads = [key for name, key in reads if name == "/X"]
    assert len(x_reads) == -(-N_ROWS // 10)
    assert all(isinstance(k, slice) and k.stop - k.start <= 10 for k in x_reads)
    assert meta.classes == list(RML2018_CLASS_ORDERS["community"])
    assert meta.snr_grid_db == [-20.0, 30.0] and meta.length == LENGTH
    assert meta.source["class_order"] == "community" and meta.source["kind"] == "rml2018"
    assert meta.source["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    back = read_frames(out)
    np.testing.assert_array_equal(back.ids, np.arange(N_ROWS))
    np.testing.assert_array_equal(back.labels, Y.argmax(1))
    np.testing.assert_array_equal(back.snr_db, Z[:, 0])
    np.testing.assert_array_equal(back.iq, X.transpose(0, 2, 1))
    block = N_SNR * PER_SNR
    assert meta.classes[back.labels[0]] == "OOK"
    assert meta.classes[back.labels[4 * block]] == "QPSK"
    assert meta.classes[back.labels[21 * block]] == "FM"
    assert verify(out) == []


def test_rml2018_legacy_order_maps_columns_differently(tmp_path, rml2018_file):
    src, (_X, Y, _Z) = rml2018_file
    out = str(tmp_path / "ds")
    meta = convert("rml2018", str(src), out, class_order="legacy", chunk_rows=7)
    assert meta.classes == list(RML2018_CLASS_ORDERS["legacy"])
    assert meta.source["class_order"] == "legacy"
    back = read_frames(out)
    np.testing.assert_array_equal(back.labels, Y.argmax(1))  # same column, another name
    block = N_SNR * PER_SNR
    assert meta.classes[back.labels[0]] == "32PSK"
    assert meta.classes[back.labels[4 * block]] == "GMSK"
    assert sorted(meta.classes) == sorted(RML2018_CLASS_ORDERS["community"])


def test_rml2018_channels_first_memory_uri_and_flat_z():
    X, Y, Z = rml2018_arrays(seed=1)
    buffer = io.BytesIO()
    write_h5(buffer, X=X.transpose(0, 2, 1), Y=Y.astype(np.uint8), Z=Z[:, 0])
    src = _memory_uri("GOLD_XYZ_OSC.0001_1024.hdf5")
    with fsspec.open(src, "wb") as handle:
        handle.write(buffer.getvalue())
    out = _memory_uri("ds")
    meta = convert_rml2018(src, out, chunk_rows=50)
    assert meta.source["file"] == "GOLD_XYZ_OSC.0001_1024.hdf5"
    back = read_frames(out)
    np.testing.assert_array_equal(back.iq, X.transpose(0, 2, 1))
    np.testing.assert_array_equal(back.labels, Y.argmax(1))


def test_rml2018_custom_classes(tmp_path):
    rng = np.random.default_rng(2)
    labels = np.array([0, 1, 2, 2, 1])
    src = tmp_path / "src.h5"
    write_h5(
        src,
        X=rng.standard_normal((5, 16, 2)),
        Y=np.eye(3)[labels],
        Z=np.zeros((5, 1)),
    )
    out = str(tmp_path / "ds")
    meta = convert_rml2018(str(src), out, classes=["a", "b", "c"])
    assert meta.classes == ["a", "b", "c"] and meta.source["class_order"] == "custom"
    np.testing.assert_array_equal(read_frames(out).labels, labels)
    with pytest.raises(ValueError, match=r"shape \(5, 24\)"):
        convert_rml2018(str(src), str(tmp_path / "ds2"))


def test_rml2018_missing_key_names_missing_and_present(tmp_path):
    X, Y, _Z = rml2018_arrays()
    src = tmp_path / "src.h5"
    write_h5(src, X=X, Y=Y, extra=np.zeros(3))
    expected = r"lacks dataset\(s\) \['Z'\]; it has \['X', 'Y', 'extra'\]"
    with pytest.raises(ValueError, match=expected):
        convert_rml2018(str(src), str(tmp_path / "ds"))
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Z": np.zeros((N_ROWS, 2))}, "Z must have shape"),
        ({"X": np.zeros((N_ROWS, LENGTH, 3), np.float32)}, "X must have shape"),
        ({"Y": np.zeros((N_ROWS, 24))}, "Y row 0 is not one-hot"),
        ({"class_order": "paper"}, "class_order must be one of"),
    ],
)
def test_rml2018_bad_files(tmp_path, change, message):
    X, Y, Z = rml2018_arrays()
    arrays = {"X": X, "Y": Y, "Z": Z}
    arrays.update({k: v for k, v in change.items() if k in arrays})
    options = {k: v for k, v in change.items() if k not in arrays}
    src = tmp_path / "src.h5"
    write_h5(src, **arrays)
    with pytest.raises(ValueError, match=message):
        convert_rml2018(str(src), str(tmp_path / "ds"), **options)
    assert _leftovers(tmp_path) == []


def test_rml2018_failure_late_in_the_stream_leaves_nothing(tmp_path):
    X, Y, Z = rml2018_arrays()
    X[-1, 3, 0] = np.inf
    src = tmp_path / "src.h5"
    write_h5(src, X=X, Y=Y, Z=Z)
    with pytest.raises(ValueError, match=f"X holds NaN or inf \\(first at row {N_ROWS - 1}\\)"):
        convert_rml2018(str(src), str(tmp_path / "ds"), chunk_rows=8, shard_bytes=4096)
    assert _leftovers(tmp_path) == []


def test_rml2018_not_hdf5(tmp_path):
    src = tmp_path / "src.h5"
    src.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        convert_rml2018(str(src), str(tmp_path / "ds"))


# ------------------------------------------------------------------ npz


def npz_arrays(n: int = 40, length: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2, length)).astype(np.float32)
    y = np.arange(n) % 3
    snr = rng.choice([-10, 0, 10], n)
    return X, y, snr


def _save_npz(path, compressed: bool = False, **arrays):
    (np.savez_compressed if compressed else np.savez)(path, **arrays)


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip_streams_chunks(tmp_path, monkeypatch, compressed):
    monkeypatch.setattr(loaders, "_NPZ_CHUNK_BYTES", 7 * 8 * 32)  # 7 rows per chunk
    X, y, snr = npz_arrays()
    src = tmp_path / "src.npz"
    _save_npz(src, compressed, X=X, y=y, snr=snr, classes=np.array(["am", "fm", "bpsk"]))
    out = str(tmp_path / "ds")
    meta = convert_npz(str(src), out, shard_bytes=2048)
    assert meta.classes == ["am", "fm", "bpsk"] and len(meta.shards) > 1
    assert meta.snr_grid_db == [-10.0, 0.0, 10.0] and meta.length == 32
    assert meta.source == {
        "kind": "npz",
        "file": "src.npz",
        "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
        "size_bytes": src.stat().st_size,
    }
    back = read_frames(out)
    np.testing.assert_array_equal(back.ids, np.arange(40))
    np.testing.assert_array_equal(back.labels, y)
    np.testing.assert_array_equal(back.snr_db, snr.astype(np.float32))
    np.testing.assert_array_equal(back.iq, X)
    assert verify(out) == []


def test_npz_channels_last_and_class_sources(tmp_path):
    X, y, snr = npz_arrays(length=16)
    src = tmp_path / "src.npz"
    _save_npz(src, X=X.transpose(0, 2, 1).astype(np.float64), y=y, snr=snr.reshape(-1, 1))
    meta = convert_npz(str(src), str(tmp_path / "default"))
    assert meta.classes == ["class_0", "class_1", "class_2"]
    np.testing.assert_array_equal(read_frames(str(tmp_path / "default")).iq, X)
    meta = convert_npz(str(src), str(tmp_path / "named"), classes=["a", "b", "c", "d"])
    assert meta.classes == ["a", "b", "c", "d"]
    _save_npz(src, X=np.asfortranarray(X), y=y, snr=snr)  # not streamable: read whole
    convert_npz(str(src), str(tmp_path / "fortran"))
    np.testing.assert_array_equal(read_frames(str(tmp_path / "fortran")).iq, X)


def test_npz_memory_uri():
    X, y, snr = npz_arrays()
    buffer = io.BytesIO()
    np.savez(buffer, X=X, y=y, snr=snr)
    src = _memory_uri("frames.npz")
    with fsspec.open(src, "wb") as handle:
        handle.write(buffer.getvalue())
    out = _memory_uri("ds")
    convert("npz", src, out)
    np.testing.assert_array_equal(read_frames(out).iq, X)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"X": "nan"}, r"X holds NaN or inf \(first at row 37\)"),
        ({"y": np.arange(40) % 5}, r"y holds label 4 .* outside the 3 classes"),
        ({"y": np.arange(40) - 1}, "negative labels"),
        ({"y": np.zeros(40)}, "integer labels"),
        ({"y": None}, r"npz lacks key\(s\) \['y'\]; it has \['X', 'classes', 'snr'\]"),
        ({"X": np.zeros((40, 3, 32))}, r"X must have shape \(N, 2, L\) or \(N, L, 2\)"),
        ({"snr": np.zeros(39)}, r"snr must have shape \(40,\)"),
        ({"classes": np.array(["a", "a", "b"])}, "must be non-empty and unique"),
        ({"classes": np.array([1, 2, 3])}, "1-D array of names"),
    ],
)
def test_npz_bad_files_write_nothing(tmp_path, monkeypatch, change, message):
    monkeypatch.setattr(loaders, "_NPZ_CHUNK_BYTES", 5 * 8 * 32)  # NaN arrives in a late chunk
    X, y, snr = npz_arrays()
    arrays = {"X": X, "y": y, "snr": snr, "classes": np.array(["a", "b", "c"])}
    if isinstance(change.get("X"), str):
        X[37, 1, 5] = np.nan
        change = {}
    for key, value in change.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    src = tmp_path / "src.npz"
    _save_npz(src, **arrays)
    out = tmp_path / "ds"
    with pytest.raises(ValueError, match=message):
        convert_npz(str(src), str(out), shard_bytes=1024)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_npz_refuses_object_arrays_and_conflicting_classes(tmp_path):
    X, y, snr = npz_arrays()
    src = tmp_path / "src.npz"
    _save_npz(src, X=X, y=y, snr=np.array(list(snr), dtype=object))
    with pytest.raises(ValueError, match="'snr' cannot be read without pickle"):
        convert_npz(str(src), str(tmp_path / "ds"))
    _save_npz(src, X=X, y=y, snr=snr, classes=np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="differ from the file's classes"):
        convert_npz(str(src), str(tmp_path / "ds"), classes=["x", "y", "z"])
    src.write_bytes(b"plain bytes")
    with pytest.raises(ValueError, match=r"not an \.npz archive"):
        convert_npz(str(src), str(tmp_path / "ds"))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_npz_complex_x_becomes_i_and_q_rows(tmp_path, monkeypatch, dtype):
    monkeypatch.setattr(loaders, "_NPZ_CHUNK_BYTES", 7 * 8 * 32)  # 7 rows per chunk
    X, y, snr = npz_arrays()
    Xc = (X[:, 0] + 1j * X[:, 1]).astype(dtype)  # [N, L]
    src = tmp_path / "src.npz"
    _save_npz(src, X=Xc, y=y, snr=snr)
    out = str(tmp_path / "ds")
    meta = convert_npz(str(src), out, shard_bytes=2048)
    assert meta.length == 32 and meta.num_rows == 40
    back = read_frames(out)
    np.testing.assert_array_equal(back.iq[:, 0], Xc.real.astype(np.float32))
    np.testing.assert_array_equal(back.iq[:, 1], Xc.imag.astype(np.float32))
    np.testing.assert_array_equal(back.iq, X)  # float32 parts survive complex128 exactly
    _save_npz(src, X=Xc[:, None, :], y=y, snr=snr)
    with pytest.raises(ValueError, match=r"complex X must have shape \(N, L\), got \(40, 1, 32\)"):
        convert_npz(str(src), str(tmp_path / "bad"))


@pytest.mark.parametrize("kind", ["U", "S"])
def test_npz_string_labels_name_the_classes(tmp_path, kind):
    X, y, snr = npz_arrays()
    words = np.array(["qpsk", "am", "bpsk"])[y].astype(kind)  # rows 0, 1, 2: qpsk, am, bpsk
    src = tmp_path / "src.npz"
    _save_npz(src, X=X, y=words, snr=snr)
    meta = convert_npz(str(src), str(tmp_path / "sorted"))
    assert meta.classes == ["am", "bpsk", "qpsk"]
    labels = read_frames(str(tmp_path / "sorted")).labels
    np.testing.assert_array_equal(labels[:6], [2, 0, 1, 2, 0, 1])
    meta = convert_npz(str(src), str(tmp_path / "given"), classes=["bpsk", "qpsk", "fm", "am"])
    assert meta.classes == ["bpsk", "qpsk", "fm", "am"]
    np.testing.assert_array_equal(read_frames(str(tmp_path / "given")).labels[:3], [1, 3, 0])
    with pytest.raises(ValueError, match=r"y holds class names not in the classes .*: \['qpsk'\]"):
        convert_npz(str(src), str(tmp_path / "bad"), classes=["am", "bpsk"])
    _save_npz(src, X=X, y=words, snr=snr, classes=np.array(["qpsk", "bpsk", "am"]))
    meta = convert_npz(str(src), str(tmp_path / "file"))
    assert meta.classes == ["qpsk", "bpsk", "am"]
    np.testing.assert_array_equal(read_frames(str(tmp_path / "file")).labels[:3], [0, 2, 1])
    assert not (tmp_path / "bad").exists()


def test_npz_without_snr_has_unknown_snr(tmp_path, caplog):
    X, y, _snr = npz_arrays()
    src = tmp_path / "src.npz"
    _save_npz(src, X=X, y=y)
    out = str(tmp_path / "ds")
    meta = convert_npz(str(src), out, sample_rate_hz=200_000)
    assert "no 'snr' key: the SNR of all 40 frames is unknown" in caplog.text
    assert meta.snr_grid_db == [] and meta.snr_unknown_rows == 40
    assert read_meta(out).snr_unknown_rows == 40 and read_meta(out).sample_rate_hz == 200_000.0
    back = read_frames(out)
    assert back.snr_db.dtype == np.float32 and np.isnan(back.snr_db).all()
    np.testing.assert_array_equal(back.iq, X)
    info = dataset_info(out)
    assert info["counts"]["class_1"] == {"unknown": 13} and info["snr_unknown_rows"] == 40
    text = format_info(info)
    assert "snr      SNR unknown for 40 frames" in text and "rate     200,000 Hz" in text
    assert verify(out) == []


def test_npz_nan_snr_rows_are_unknown_inf_is_refused(tmp_path):
    X, y, snr = npz_arrays()
    snr = snr.astype(np.float64)
    snr[[3, 7]] = np.nan
    src = tmp_path / "src.npz"
    _save_npz(src, X=X, y=y, snr=snr)
    meta = convert_npz(str(src), str(tmp_path / "ds"))
    assert meta.snr_unknown_rows == 2 and meta.snr_grid_db == [-10.0, 0.0, 10.0]
    back = read_frames(str(tmp_path / "ds"))
    np.testing.assert_array_equal(np.flatnonzero(np.isnan(back.snr_db)), [3, 7])
    snr[5] = -np.inf
    _save_npz(src, X=X, y=y, snr=snr)
    with pytest.raises(ValueError, match=r"snr holds inf \(first at row 5\)"):
        convert_npz(str(src), str(tmp_path / "inf"))
    assert not (tmp_path / "inf").exists()


def test_sample_rate_is_recorded_for_every_converter(tmp_path, rml2018_file):
    raw = pickle.dumps(rml2016_dict(length=16), protocol=4)
    (tmp_path / "src.pkl").write_bytes(raw)
    meta = convert_rml2016(str(tmp_path / "src.pkl"), str(tmp_path / "a"), sample_rate_hz=2e5)
    assert meta.sample_rate_hz == 2e5 and read_meta(str(tmp_path / "a")).sample_rate_hz == 2e5
    meta = convert_rml2018(str(rml2018_file[0]), str(tmp_path / "h5"), sample_rate_hz=1e6)
    assert read_meta(str(tmp_path / "h5")).sample_rate_hz == 1e6
    assert convert_rml2016(str(tmp_path / "src.pkl"), str(tmp_path / "b")).sample_rate_hz is None
    for bad in (0, -5.0, float("nan"), "fast"):
        with pytest.raises(ValueError, match="sample_rate_hz must be"):
            convert("rml2016", str(tmp_path / "src.pkl"), str(tmp_path / "c"), sample_rate_hz=bad)
    assert not (tmp_path / "c").exists()


# ------------------------------------------------------------------ convert and outputs


def test_convert_unknown_kind_and_option(tmp_path):
    kinds = r"\['npz', 'rml2016', 'rml2018', 'sigmf'\]"
    with pytest.raises(ValueError, match=rf"unknown kind 'mat'.*{kinds}"):
        convert("mat", "x", str(tmp_path / "ds"))
    assert KINDS == ("npz", "rml2016", "rml2018", "sigmf")
    with pytest.raises(ValueError, match=r"rml2016 does not take option\(s\) \['classes'\]"):
        convert("rml2016", "x", str(tmp_path / "ds"), classes=["a"])


@pytest.mark.parametrize("where", ["local", "memory"])
def test_existing_output_needs_overwrite(tmp_path, where):
    X, y, snr = npz_arrays()
    src = tmp_path / "src.npz"
    _save_npz(src, X=X, y=y, snr=snr)
    out = str(tmp_path / "ds") if where == "local" else _memory_uri("ds")
    convert_npz(str(src), out)
    fs, path = fsspec.core.url_to_fs(out)
    before = {p: fs.cat_file(p) for p in fs.find(path)}
    X2, y2, snr2 = npz_arrays(seed=5)
    _save_npz(src, X=X2, y=y2, snr=snr2)
    with pytest.raises(FileExistsError, match="already exists"):
        convert_npz(str(src), out)
    assert {p: fs.cat_file(p) for p in fs.find(path)} == before
    np.testing.assert_array_equal(read_frames(out).iq, X)
    convert_npz(str(src), out, overwrite=True)
    np.testing.assert_array_equal(read_frames(out).iq, X2)


def test_npz_labels_reach_the_int16_class_limit_and_no_further(tmp_path):
    X, _y, snr = npz_arrays(n=2, length=8)
    src = tmp_path / "src.npz"
    _save_npz(src, X=X, y=np.array([0, MAX_CLASSES - 1]), snr=snr)
    meta = convert_npz(str(src), str(tmp_path / "top"))
    assert meta.num_classes == MAX_CLASSES == 32768
    assert read_frames(str(tmp_path / "top")).labels.tolist() == [0, 32767]
    _save_npz(src, X=X, y=np.array([0, MAX_CLASSES]), snr=snr)
    with pytest.raises(ValueError, match="labels up to 32768; at most 32768 classes"):
        convert_npz(str(src), str(tmp_path / "beyond"))
    names = [f"c{k}" for k in range(MAX_CLASSES + 1)]
    with pytest.raises(ValueError, match="has 32769 classes; at most 32768 are supported"):
        convert_npz(str(src), str(tmp_path / "named"), classes=names)
