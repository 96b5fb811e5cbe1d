import hashlib
import json
import math
import sys

import numpy as np
import pytest
from sigmf import SigMFFile

from engine.cli import main
from engine.data.info import dataset_info
from engine.data.loaders import KINDS, convert
from engine.data.sigmf import convert_sigmf
from engine.data.store import read_frames, read_meta, verify

L = 64
RATE_HZ = 250_000.0
SNR_KEY = "duse:snr_db"
# (sample_start, sample_count, metadata): file order is sample_start order
ANNOTATIONS = [
    (0, 200, {"core:label": "qpsk", SNR_KEY: 10}),  # 3 frames, 8 samples left over
    (200, 2 * L + 5, {"core:label": "bpsk", SNR_KEY: -4.5}),  # 2 frames
    (400, 50, {"core:label": "fm", SNR_KEY: 3}),  # shorter than L: no frame
    (500, 300, {"core:label": "fm"}),  # 4 frames, no SNR
    (900, 100, {"core:comment": "no label"}),  # skipped
    (1000, L, {"core:label": "bpsk", SNR_KEY: 0}),  # 1 frame
]
SAMPLES = 1100
# (annotation, frames) in id order
EXPECTED = [(0, 3), (1, 2), (3, 4), (5, 1)]


def iq_samples(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(SAMPLES) + 1j * rng.standard_normal(SAMPLES)).astype(np.complex64)


def write_recording(
    directory, samples, *, datatype="cf32_le", annotations=ANNOTATIONS, rate_hz=RATE_HZ
):
    """A recording written by the sigmf library: global info, a capture, annotations."""
    data_file = directory / "rec.sigmf-data"
    samples.tofile(data_file)
    info = {
        "core:datatype": datatype,
        "core:description": "three classes for duse tests",
        "core:extensions": [{"name": "duse", "version": "0.1.0", "optional": True}],
    }
    if rate_hz is not None:
        info["core:sample_rate"] = rate_hz
    recording = SigMFFile(data_file=str(data_file), global_info=info)
    recording.add_capture(0, metadata={"core:frequency": 2.4e9})
    for start, count, metadata in annotations:
        recording.add_annotation(start, count, metadata=dict(metadata))
    recording.tofile(directory / "rec", overwrite=True)
    return directory / "rec.sigmf-meta"


@pytest.fixture
def recording(tmp_path):
    samples = iq_samples()
    return write_recording(tmp_path, samples), samples


def expected_frames(samples):
    """iq [n, 2, L] of every frame in id order, with its annotation index."""
    frames, owners = [], []
    for annotation, count in EXPECTED:
        start = ANNOTATIONS[annotation][0]
        for k in range(count):
            chunk = samples[start + k * L : start + (k + 1) * L]
            frames.append(np.stack([chunk.real, chunk.imag]))
            owners.append(annotation)
    return np.array(frames, np.float32), owners


def test_frames_labels_and_metadata(tmp_path, recording):
    meta_file, samples = recording
    out = str(tmp_path / "ds")
    meta = convert_sigmf(str(meta_file), out, frame_length=L, snr_key=SNR_KEY, shard_bytes=4096)
    assert meta.classes == ["bpsk", "fm", "qpsk"] and meta.length == L
    assert meta.sample_rate_hz == RATE_HZ and read_meta(out).sample_rate_hz == RATE_HZ
    back = read_frames(out)
    np.testing.assert_array_equal(back.ids, np.arange(10))
    names = [meta.classes[label] for label in back.labels]
    assert names == ["qpsk"] * 3 + ["bpsk"] * 2 + ["fm"] * 4 + ["bpsk"]
    assert {c: names.count(c) for c in meta.classes} == {"bpsk": 3, "fm": 4, "qpsk": 3}
    iq, owners = expected_frames(samples)
    np.testing.assert_array_equal(back.iq, iq)
    # frame k of annotation 3 (start 500) holds samples 500 + 64k .. 500 + 64k + 63
    np.testing.assert_array_equal(back.iq[5 + 2, 0], samples[500 + 2 * L : 500 + 3 * L].real)
    np.testing.assert_array_equal(back.iq[5 + 2, 1], samples[500 + 2 * L : 500 + 3 * L].imag)
    snr = [ANNOTATIONS[a][2].get(SNR_KEY, math.nan) for a in owners]
    np.testing.assert_array_equal(back.snr_db, np.array(snr, np.float32))  # NaN == NaN here
    assert meta.snr_grid_db == [-4.5, 0.0, 10.0] and meta.snr_unknown_rows == 4
    data_file = meta_file.with_suffix(".sigmf-data")
    assert meta.source == {
        "kind": "sigmf",
        "file": "rec.sigmf-data",
        "sha256": hashlib.sha256(data_file.read_bytes()).hexdigest(),
        "size_bytes": 8 * SAMPLES,
        "meta_file": "rec.sigmf-meta",
        "meta_sha256": hashlib.sha256(meta_file.read_bytes()).hexdigest(),
        "datatype": "cf32_le",
        "label_key": "core:label",
        "snr_key": SNR_KEY,
    }
    body = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert body["sample_rate_hz"] == RATE_HZ and body["snr_unknown_rows"] == 4
    assert verify(out) == []
    info = dataset_info(out)
    assert info["counts"]["fm"] == {"unknown": 4}
    assert info["counts"]["bpsk"] == {"-4.5": 2, "0": 1}


def test_without_snr_key_every_snr_is_unknown(tmp_path, recording, caplog):
    meta_file, _ = recording
    out = str(tmp_path / "ds")
    meta = convert("sigmf", str(meta_file), out, frame_length=L)
    back = read_frames(out)
    assert len(back) == 10 and np.isnan(back.snr_db).all()
    assert meta.snr_grid_db == [] and meta.snr_unknown_rows == 10
    assert "skipped 1 annotations without a core:label value" in caplog.text
    assert "skipped 1 annotations shorter than 64 samples" in caplog.text


def test_label_key_classes_and_cli_rate(tmp_path):
    samples = iq_samples(1)
    annotations = [(0, 3 * L, {"duse:mod": "gmsk"}), (3 * L, 2 * L, {"duse:mod": "bpsk"})]
    meta_file = write_recording(tmp_path, samples, annotations=annotations, rate_hz=None)
    out = str(tmp_path / "ds")
    meta = convert_sigmf(
        str(meta_file),
        out,
        frame_length=L,
        label_key="duse:mod",
        classes=["gmsk", "qpsk", "bpsk"],
        sample_rate_hz=1e6,
    )
    assert meta.classes == ["gmsk", "qpsk", "bpsk"] and meta.sample_rate_hz == 1e6
    np.testing.assert_array_equal(read_frames(out).labels, [0, 0, 0, 2, 2])
    with pytest.raises(
        ValueError, match=r"names not in the classes \['gmsk', 'qpsk'\]: \['bpsk'\]"
    ):
        convert_sigmf(
            str(meta_file),
            str(tmp_path / "x"),
            frame_length=L,
            label_key="duse:mod",
            classes=["gmsk", "qpsk"],
        )


@pytest.mark.parametrize(
    ("datatype", "dtype", "scale", "centre"),
    [("ci16_le", "<i2", 2**-15, 0), ("cu8", "u1", 2**-7, 128), ("cf32_be", ">f4", 1.0, 0)],
)
def test_datatypes_fixed_point_is_scaled_by_the_library(tmp_path, datatype, dtype, scale, centre):
    rng = np.random.default_rng(2)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        parts = rng.standard_normal((SAMPLES, 2)).astype(dtype)
    else:
        parts = rng.integers(info.min, info.max, (SAMPLES, 2), endpoint=True).astype(dtype)
    annotations = [(100, 2 * L, {"core:label": "qam16"})]
    meta_file = write_recording(tmp_path, parts, datatype=datatype, annotations=annotations)
    out = str(tmp_path / "ds")
    convert_sigmf(str(meta_file), out, frame_length=L)
    back = read_frames(out)
    expected = ((parts[100 : 100 + 2 * L].astype(np.float64) - centre) * scale).astype(np.float32)
    np.testing.assert_array_equal(back.iq[1, 0], expected[L:, 0])
    np.testing.assert_array_equal(back.iq[1, 1], expected[L:, 1])


# sigmf compares absolute annotation ends with the file's sample count, ignoring core:offset
@pytest.mark.filterwarnings("ignore:Data source ends before the final annotation")
def test_overlapping_annotations_integer_labels_and_offset(tmp_path):
    samples = iq_samples(3)
    data_file = tmp_path / "rec.sigmf-data"
    samples.tofile(data_file)
    info = {
        "core:datatype": "cf32_le",
        "core:offset": 5000,  # the file starts at sample 5000
        "core:extensions": [{"name": "duse", "version": "0.1.0", "optional": True}],
    }
    recording = SigMFFile(data_file=str(data_file), global_info=info)
    recording.add_capture(5000)
    recording.add_annotation(5000, 2 * L, metadata={"duse:class": "a"})
    recording.add_annotation(5000 + L // 2, 2 * L, metadata={"duse:class": 7})  # overlaps
    recording.tofile(tmp_path / "rec", overwrite=True)
    out = str(tmp_path / "ds")
    meta = convert_sigmf(
        str(tmp_path / "rec.sigmf-meta"), out, frame_length=L, label_key="duse:class"
    )
    assert meta.classes == ["7", "a"] and meta.sample_rate_hz is None
    back = read_frames(out)
    np.testing.assert_array_equal(back.labels, [1, 1, 0, 0])
    for row, first in enumerate([0, L, L // 2, L // 2 + L]):
        np.testing.assert_array_equal(back.iq[row, 0], samples[first : first + L].real)
        np.testing.assert_array_equal(back.iq[row, 1], samples[first : first + L].imag)


def test_cli_convert_and_info(tmp_path, recording, capsys):
    meta_file, _ = recording
    out = str(tmp_path / "ds")
    argv = ["data", "convert", "--from", "sigmf", str(meta_file), "--out", out]
    assert main([*argv, "--frame-length", str(L), "--snr-key", SNR_KEY]) == 0
    assert "wrote 10 frames (3 classes)" in capsys.readouterr().out
    assert main(["data", "info", out]) == 0
    text = capsys.readouterr().out
    assert "rate     250,000 Hz" in text and "-4.5 .. 10 dB (3 values)" in text
    assert "SNR unknown for 4 frames" in text
    assert main(["data", "info", out, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sample_rate_hz"] == RATE_HZ and info["snr_unknown_rows"] == 4
    assert main([*argv, "--overwrite"]) == 2  # no --frame-length
    assert "sigmf needs frame_length" in capsys.readouterr().err


def test_kind_is_registered():
    assert "sigmf" in KINDS


def _fails(tmp_path, meta_file, message, **options):
    out = tmp_path / "ds"
    options.setdefault("frame_length", L)
    with pytest.raises(ValueError, match=message):
        convert_sigmf(str(meta_file), str(out), **options)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ds")] == []


def test_frame_length_larger_than_every_annotation(tmp_path, recording):
    meta_file, _ = recording
    message = r"frame_length 400 is larger than every labelled annotation .*longest has 300"
    _fails(tmp_path, meta_file, message, frame_length=400)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no_data", "has no data file: expected .*rec.sigmf-data"),
        ("real", r"unsupported SigMF datatype 'rf32_le'.*complex"),
        ("no_labels", r"no annotation .* has both a duse:none value and core:sample_count"),
        ("no_annotations", "has no annotations"),
        ("outside", r"annotation 0 \(qpsk\) covers samples \[0, 2000\) but .* \[0, 1100\)"),
        ("rate", "sample_rate_hz 1e\\+06 differs from the file's core:sample_rate 250000"),
        ("bad_snr", r"annotation 0: duse:snr_db must be a number \(dB\), got 'high'"),
        ("changed_data", "does not match the core:sha512"),
        ("not_installed", r"pip install 'duse\[sigmf\]'"),
    ],
)
@pytest.mark.filterwarnings("ignore:Data source ends before the final annotation")
def test_errors_write_nothing(tmp_path, monkeypatch, change, message):
    samples = iq_samples()
    annotations = ANNOTATIONS
    options = {}
    if change == "real":
        samples = samples.real.copy()
    if change == "no_annotations":
        annotations = []
    if change == "outside":
        annotations = [(0, 2000, {"core:label": "qpsk"})]
    if change == "bad_snr":
        annotations = [(0, 200, {"core:label": "qpsk", SNR_KEY: "high"})]
        options["snr_key"] = SNR_KEY
    meta_file = write_recording(
        tmp_path,
        samples,
        datatype="rf32_le" if change == "real" else "cf32_le",
        annotations=annotations,
    )
    if change == "no_data":
        meta_file.with_suffix(".sigmf-data").unlink()
    if change == "no_labels":
        options["label_key"] = "duse:none"
    if change == "rate":
        options["sample_rate_hz"] = 1e6
    if change == "changed_data":
        (samples * 2).tofile(meta_file.with_suffix(".sigmf-data"))
    if change == "not_installed":
        monkeypatch.setitem(sys.modules, "sigmf", None)
    _fails(tmp_path, meta_file, message, **options)


def test_bad_arguments(tmp_path, recording):
    meta_file, _ = recording
    _fails(tmp_path, meta_file, "sigmf needs frame_length", frame_length=None)
    _fails(tmp_path, meta_file, "sample_rate_hz must be finite and > 0", sample_rate_hz=-1.0)
    with pytest.raises(ValueError, match=r"expects a recording's \.sigmf-meta"):
        convert_sigmf(str(tmp_path / "rec.wav"), str(tmp_path / "ds"), frame_length=L)
    with pytest.raises(FileNotFoundError):
        convert_sigmf(str(tmp_path / "other.sigmf-meta"), str(tmp_path / "ds"), frame_length=L)
    # the data file names the recording too
    meta = convert_sigmf(
        str(meta_file.with_suffix(".sigmf-data")), str(tmp_path / "ds"), frame_length=L
    )
    assert meta.num_rows == 10
