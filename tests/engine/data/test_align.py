import json

import numpy as np
import pytest

from engine.data.align import Sources, build_working_set, fit_length
from engine.data.schema import Frames
from engine.data.store import DatasetWriter, read_frames, read_meta, verify


def write_dataset(uri, classes, length, per_class, *, seed=0, snr_db=(0.0, 10.0), rate=None):
    """Hand-made frames (not the engine's generator): frame k of class c is c + k / 1000."""
    rng = np.random.default_rng(seed)
    n = len(classes) * per_class
    labels = np.repeat(np.arange(len(classes)), per_class).astype(np.int16)
    iq = rng.standard_normal((n, 2, length)).astype(np.float32)
    iq[:, 0, 0] = labels + np.arange(n) / 1000  # a marker to follow frames through
    ids = 1000 + 7 * np.arange(n, dtype=np.int64)  # ids of its own, not 0..n-1
    snr = np.resize(np.asarray(snr_db, np.float32), n)
    with DatasetWriter(
        uri, classes, length, sorted(set(snr_db)), {"kind": "test"}, sample_rate_hz=rate
    ) as writer:
        writer.write(Frames(ids, labels, snr, iq))
    return read_frames(uri)


@pytest.fixture
def sources(tmp_path):
    target = write_dataset(str(tmp_path / "t"), ["BPSK", "QPSK", "QAM16"], 32, 10, rate=1e6)
    pool = write_dataset(
        str(tmp_path / "p"),
        ["16QAM", "GMSK", "PSK2", "FM"],
        64,
        6,
        seed=1,
        snr_db=(-10.0, 0.0, 20.0),
        rate=2e5,
    )
    return tmp_path, target, pool


def test_fit_length_policies():
    iq = np.arange(2 * 8, dtype=np.float32).reshape(1, 2, 8)
    np.testing.assert_array_equal(fit_length(iq, 5, "crop"), iq[..., :5])
    padded = fit_length(iq, 11, "pad")
    np.testing.assert_array_equal(padded[..., :8], iq)
    assert (padded[..., 8:] == 0).all()
    assert fit_length(iq, 8, "error") is iq
    # resampling a slow tone to half the samples keeps its shape at half the rate
    t = np.arange(256)
    tone = np.stack([np.cos(2 * np.pi * t / 64), np.sin(2 * np.pi * t / 64)])[None]
    half = fit_length(tone.astype(np.float32), 128, "resample")
    expected = np.stack([np.cos(2 * np.pi * t[:128] / 32), np.sin(2 * np.pi * t[:128] / 32)])
    assert half.shape == (1, 2, 128)
    assert np.abs(half[0, :, 16:-16] - expected[:, 16:-16]).max() < 0.02


@pytest.mark.parametrize(
    ("policy", "have", "match"),
    [
        ("error", 64, r"L=64, the target has L=32; set length_policy to one of \['crop'"),
        ("pad", 64, "pad cannot turn L=64 into L=32"),
        ("crop", 16, "crop cannot turn L=16 into L=32"),
    ],
)
def test_lengths_a_policy_cannot_fit_are_one_line_errors(policy, have, match):
    with pytest.raises(ValueError, match=match):
        fit_length(np.zeros((1, 2, have), np.float32), 32, policy)


def test_working_set_maps_classes_and_keeps_provenance(sources, caplog):
    tmp_path, target, pool = sources
    spec = Sources(
        str(tmp_path / "t"), str(tmp_path / "p"), class_map={"FM": None}, length_policy="crop"
    )
    working = build_working_set(spec, str(tmp_path / "w"))
    meta = read_meta(working.uri)
    assert meta.classes == ["BPSK", "QPSK", "QAM16"] and meta.length == 32
    assert meta.sample_rate_hz == 1e6 and verify(working.uri) == []
    frames = read_frames(working.uri, extra=True)
    source = frames.extra["source"]
    assert (source[:30] == "target").all() and (source[30:] == "pool").all()
    np.testing.assert_array_equal(frames.ids, np.arange(len(frames)))  # target first, new ids
    # target rows are the target's frames, untouched
    np.testing.assert_array_equal(frames.extra["source_id"][:30], target.ids)
    np.testing.assert_array_equal(frames.iq[:30], target.iq)
    # pool: 16QAM -> QAM16 and PSK2 -> BPSK by name; GMSK (no match) and FM (class_map) left out
    pool_rows = frames.take(np.flatnonzero(source == "pool"))
    assert sorted(set(pool_rows.extra["source_class"])) == ["16QAM", "PSK2"]
    for row in range(len(pool_rows)):
        original = np.flatnonzero(pool.ids == pool_rows.extra["source_id"][row])[0]
        np.testing.assert_array_equal(pool_rows.iq[row], pool.iq[original][:, :32])  # cropped
        expected_label = {"16QAM": 2, "PSK2": 0}[pool_rows.extra["source_class"][row]]
        assert pool_rows.labels[row] == expected_label
    report = working.report["pool"]
    assert report["kept_per_class"] == {"BPSK": 6, "QPSK": 0, "QAM16": 6}
    assert report["left_out_per_class"] == {"no target class": {"GMSK": 6, "FM": 6}}
    assert report["missing_target_classes"] == ["QPSK"]
    logged = caplog.text
    assert "12 frames left out (no target class)" in logged
    assert "no frames of target classes ['QPSK']" in logged
    assert "sample rate 200000 Hz differs from the target's 1e+06 Hz" in logged
    stored = json.loads((tmp_path / "w" / "dataset.json").read_text())
    assert stored["source"]["report"]["pool"]["kept_per_class"]["QAM16"] == 6


def test_pool_snr_window_and_a_separate_test_set(sources):
    tmp_path, _, _ = sources
    write_dataset(str(tmp_path / "test"), ["qam16", "bpsk", "qpsk"], 48, 4, seed=2)
    spec = Sources(
        str(tmp_path / "t"),
        str(tmp_path / "p"),
        test=str(tmp_path / "test"),
        class_map={"GMSK": "QPSK"},  # the pool's map: the test set has no GMSK, and need not
        length_policy="resample",
        pool_snr_min_db=0.0,
        pool_snr_max_db=10.0,
    )
    working = build_working_set(spec, str(tmp_path / "w"))
    frames = read_frames(working.uri, extra=True)
    test = frames.take(np.flatnonzero(frames.extra["source"] == "test"))
    assert len(test) == 12 and sorted(np.bincount(test.labels).tolist()) == [4, 4, 4]
    pool = frames.take(np.flatnonzero(frames.extra["source"] == "pool"))
    assert set(pool.snr_db.tolist()) == {0.0}  # -10 and 20 dB are outside the window
    assert working.report["pool"]["left_out_per_class"]["outside the SNR window"] == {
        "16QAM": 4,
        "GMSK": 4,
        "PSK2": 4,
    }


def test_reuse_and_refusal_of_an_existing_working_set(sources):
    tmp_path, _, _ = sources
    spec = Sources(str(tmp_path / "t"), str(tmp_path / "p"), length_policy="crop")
    first = build_working_set(spec, str(tmp_path / "w"))
    again = build_working_set(spec, str(tmp_path / "w"))
    assert again.meta.shards == first.meta.shards  # reused, not rewritten
    with pytest.raises(ValueError, match="built from other sources"):
        build_working_set(
            Sources(**{**spec.__dict__, "length_policy": "resample"}), str(tmp_path / "w")
        )


def test_nothing_is_written_when_the_lengths_cannot_be_fitted(sources):
    tmp_path, _, _ = sources
    with pytest.raises(ValueError, match=r"pool .*L=64, the target has L=32"):
        build_working_set(Sources(str(tmp_path / "t"), str(tmp_path / "p")), str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_a_pool_with_no_usable_class_is_an_error(sources):
    tmp_path, _, _ = sources
    class_map = {"16QAM": None, "PSK2": None}
    with pytest.raises(ValueError, match="no pool frame maps to a target class"):
        build_working_set(
            Sources(
                str(tmp_path / "t"), str(tmp_path / "p"), class_map=class_map, length_policy="crop"
            ),
            str(tmp_path / "w"),
        )
    assert not (tmp_path / "w").exists()
