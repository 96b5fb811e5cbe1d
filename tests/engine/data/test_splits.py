import numpy as np
import pytest

from engine.data.schema import Frames
from engine.data.splits import Split, make_split


def index(per_key=20, classes=4, snrs=(-10.0, 0.0, 10.0, 20.0)):
    labels = np.repeat(np.arange(classes), per_key * len(snrs)).astype(np.int16)
    snr = np.tile(np.repeat(np.array(snrs, np.float32), per_key), classes)
    return Frames(np.arange(len(labels)) * 3 + 1, labels, snr)  # ids are not positions


def counts(ids, idx):
    pos = np.searchsorted(idx.ids, ids)
    return np.bincount(idx.labels[pos], minlength=4)


def test_balanced_disjoint_and_complete():
    idx = index()
    split = make_split(idx, 4, test=0.25, target=0.1, seed=1)
    np.testing.assert_array_equal(counts(split.test_ids, idx), [20] * 4)  # 0.25 * 80
    np.testing.assert_array_equal(counts(split.target_ids, idx), [6] * 4)  # int(0.1 * 60)
    all_ids = np.concatenate([split.test_ids, split.target_ids, split.pool_ids])
    assert len(np.unique(all_ids)) == len(all_ids) == len(idx)
    assert set(all_ids) == set(idx.ids)


def test_draw_spreads_over_snr():
    idx = index()
    split = make_split(idx, 4, test=8, target=0.1, seed=2)  # 2 test frames per class
    pos = np.searchsorted(idx.ids, split.test_ids)
    for c in range(4):
        snr = idx.snr_db[pos][idx.labels[pos] == c]
        assert len(snr) == 2 and len(np.unique(snr)) == 2


def test_snr_filter_and_counts():
    idx = index()
    split = make_split(idx, 4, test=0.5, target=4, snr_min_db=0, snr_max_db=10, seed=0)
    kept = np.concatenate([split.test_ids, split.target_ids, split.pool_ids])
    pos = np.searchsorted(idx.ids, kept)
    assert set(idx.snr_db[pos]) == {0.0, 10.0}
    np.testing.assert_array_equal(counts(split.target_ids, idx), [1] * 4)


def test_seeded():
    a, b, c = (make_split(index(), 4, target=0.1, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.target_ids, b.target_ids)
    assert not np.array_equal(a.target_ids, c.target_ids)


def test_save_load(tmp_path):
    split = make_split(index(), 4, target=0.1, seed=3)
    split.save(str(tmp_path / "splits.json"))
    back = Split.load(str(tmp_path / "splits.json"))
    np.testing.assert_array_equal(back.pool_ids, split.pool_ids)
    assert back.params == split.params


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test": 0}, "test must be > 0"),
        ({"test": 1000}, "needs 250 frames per class"),
        ({"target": 2.5}, "whole count"),
        ({"target": 0.001}, "no frame per class"),
        ({"snr_min_db": 50}, "no frame has SNR"),
    ],
)
def test_impossible_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_split(index(), 4, **kwargs)


def test_missing_class():
    with pytest.raises(ValueError, match="only 4 of 5 classes"):
        make_split(index(), 5)


def test_unknown_snr_rows_are_one_snr_group_and_left_out_by_a_window(caplog):
    idx = index(snrs=(0.0, 10.0, float("nan")))  # 20 frames per (class, SNR) key
    split = make_split(idx, 4, test=12, target=4, seed=3)  # 3 test frames per class
    pos = np.searchsorted(idx.ids, split.test_ids)
    for c in range(4):
        snr = idx.snr_db[pos][idx.labels[pos] == c]
        assert np.isnan(snr).sum() == 1 and sorted(snr[~np.isnan(snr)]) == [0.0, 10.0]
    all_ids = np.concatenate([split.test_ids, split.target_ids, split.pool_ids])
    assert len(all_ids) == len(idx)
    windowed = make_split(idx, 4, test=0.5, target=4, snr_min_db=-20, seed=3)
    kept = np.concatenate([windowed.test_ids, windowed.target_ids, windowed.pool_ids])
    assert len(kept) == 4 * 2 * 20
    assert not np.isnan(idx.snr_db[np.searchsorted(idx.ids, kept)]).any()
    assert "leaves out 80 frames of unknown SNR" in caplog.text
    only_unknown = index(snrs=(float("nan"),))
    with pytest.raises(ValueError, match=r"no frame has SNR .* \(80 frames have an unknown SNR\)"):
        make_split(only_unknown, 4, snr_max_db=30)


def test_save_is_atomic_under_a_file_size_limit(tmp_path):
    from tests.engine._internal.test_atomic import run_under_file_size_limit

    out = tmp_path / "splits.json"
    result = run_under_file_size_limit(
        f"""
        import numpy as np
        from engine.data.splits import Split
        ids = np.arange(20_000, dtype=np.int64)  # ~130 kB of JSON, far beyond 16 KiB
        try:
            Split(ids[:10], ids[10:20], ids[20:], {{"seed": 0}}).save({str(out)!r})
        except OSError as err:
            print("errno", err.errno)
        """
    )
    assert result.stdout.strip() == "errno 27", result.stderr  # EFBIG, reported
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no truncated splits.json


def test_save_replaces_and_round_trips(tmp_path):
    out = str(tmp_path / "splits.json")
    ids = np.arange(12, dtype=np.int64)
    Split(ids[:2], ids[2:4], ids[4:], {"seed": 1}).save(out)
    Split(ids[:3], ids[3:4], ids[4:], {"seed": 2}).save(out)
    loaded = Split.load(out)
    assert loaded.params == {"seed": 2} and loaded.summary() == {"test": 3, "target": 1, "pool": 8}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["splits.json"]
