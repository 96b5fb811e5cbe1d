import json
import uuid

import numpy as np
import pyarrow.parquet as pq
import pytest

from engine.data.schema import Frames
from engine.data.store import (
    DatasetWriter,
    iter_frames,
    read_frames,
    read_index,
    read_meta,
    to_ray_dataset,
    verify,
    write_shard,
)
from tests.conftest import make_frames

CLASSES = ["a", "b", "c"]


def write(uri, frames, shard_bytes=4096, **kwargs):
    with DatasetWriter(
        uri,
        CLASSES,
        frames.iq.shape[-1],
        [-10, 0, 10],
        {"kind": "test"},
        shard_bytes=shard_bytes,
        **kwargs,
    ) as writer:
        writer.write(frames)
    return writer.meta


@pytest.fixture(params=["local", "memory"])
def uri(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "ds")
    return f"memory://test-{uuid.uuid4().hex}/ds"


def test_round_trip_exact(uri):
    frames = make_frames(100, length=16)
    meta = write(uri, frames)
    assert meta.num_rows == 100 and len(meta.shards) > 1  # 4 KiB shards hold 30 frames of L=16
    back = read_frames(uri)
    np.testing.assert_array_equal(back.ids, frames.ids)
    np.testing.assert_array_equal(back.labels, frames.labels)
    np.testing.assert_array_equal(back.snr_db, frames.snr_db)
    np.testing.assert_array_equal(back.iq, frames.iq)
    assert back.iq.dtype == np.float32 and back.labels.dtype == np.int16
    assert read_meta(uri).classes == CLASSES
    assert verify(uri) == []


def test_read_subset_of_ids_and_index(uri):
    frames = make_frames(100)
    write(uri, frames)
    wanted = np.array([97, 3, 50])
    subset = read_frames(uri, ids=wanted)
    np.testing.assert_array_equal(subset.ids, [3, 50, 97])
    np.testing.assert_array_equal(subset.iq, frames.iq[[3, 50, 97]])
    with pytest.raises(KeyError, match="1 ids not in"):
        read_frames(uri, ids=[3, 1000])
    index = read_index(uri)
    assert index.iq is None and len(index) == 100
    assert sum(len(f) for f in iter_frames(uri)) == 100


def test_schema_and_checksums_recorded(tmp_path):
    uri = str(tmp_path / "ds")
    meta = write(uri, make_frames(40, length=32))
    body = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert body["num_rows"] == 40 and body["length"] == 32
    assert all(len(s["sha256"]) == 64 for s in body["shards"])
    schema = pq.read_schema(tmp_path / "ds" / meta.shards[0].name)
    assert [f.name for f in schema] == ["id", "label", "snr", "iq"]
    assert str(schema.field("iq").type.storage_type) == "fixed_size_list<item: float>[64]"


def test_verify_detects_corruption(tmp_path):
    uri = str(tmp_path / "ds")
    meta = write(uri, make_frames(100))
    shard = tmp_path / "ds" / meta.shards[1].name
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    (tmp_path / "ds" / meta.shards[2].name).unlink()
    problems = verify(uri)
    assert problems == [
        f"{meta.shards[1].name}: checksum mismatch",
        f"{meta.shards[2].name}: missing",
    ]


def test_failed_write_leaves_nothing(tmp_path):
    uri = str(tmp_path / "ds")
    with (
        pytest.raises(RuntimeError),
        DatasetWriter(uri, CLASSES, 16, [0], {}, shard_bytes=4096) as w,
    ):
        w.write(make_frames(100))
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_bad_frames_rejected_before_any_write(tmp_path):
    uri = str(tmp_path / "ds")
    good = make_frames(10)
    bad_cases = {
        "shape": Frames(good.ids, good.labels, good.snr_db, good.iq[:, :1]),
        "NaN": Frames(
            good.ids,
            good.labels,
            good.snr_db,
            np.where(good.ids[:, None, None] == 4, np.nan, good.iq),
        ),
        "labels must lie": Frames(good.ids, good.labels + 5, good.snr_db, good.iq),
        "not unique": Frames(np.zeros(10, np.int64), good.labels, good.snr_db, good.iq),
        "whole numbers": Frames(good.ids, good.labels + 0.5, good.snr_db, good.iq),
    }
    for message, frames in bad_cases.items():
        with pytest.raises(ValueError, match=message):
            write(uri, frames)
        assert not (tmp_path / "ds").exists()


def test_whole_float_labels_are_accepted(tmp_path):
    good = make_frames(12)
    write(str(tmp_path / "ds"), Frames(good.ids, good.labels.astype(float), good.snr_db, good.iq))
    np.testing.assert_array_equal(read_frames(str(tmp_path / "ds")).labels, good.labels)


def test_ids_repeated_across_writes_are_rejected(uri):
    with pytest.raises(ValueError, match="repeat"), DatasetWriter(uri, CLASSES, 16, [0], {}) as w:
        w.write(make_frames(10))
        w.write(make_frames(10, seed=1))
    with pytest.raises(FileNotFoundError):
        read_meta(uri)


def test_failed_overwrite_keeps_the_old_dataset(uri):
    write(uri, make_frames(10, seed=1))
    with pytest.raises(RuntimeError), DatasetWriter(uri, CLASSES, 16, [0], {}, overwrite=True) as w:
        w.write(make_frames(30, seed=2))
        raise RuntimeError("crash mid-write")
    np.testing.assert_array_equal(read_frames(uri).iq, make_frames(10, seed=1).iq)
    assert verify(uri) == []
    write(uri, make_frames(30, seed=2), overwrite=True)
    np.testing.assert_array_equal(read_frames(uri).iq, make_frames(30, seed=2).iq)
    assert verify(uri) == []


def test_existing_output_needs_overwrite(tmp_path):
    uri = str(tmp_path / "ds")
    write(uri, make_frames(10, seed=1))
    with pytest.raises(FileExistsError):
        write(uri, make_frames(10, seed=2))
    assert read_frames(uri).iq[0, 0, 0] == make_frames(10, seed=1).iq[0, 0, 0]
    write(uri, make_frames(20, seed=2), overwrite=True)
    assert len(read_frames(uri)) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no staging or old copy left


def test_missing_or_incomplete_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_meta(str(tmp_path / "nope"))
    (tmp_path / "half").mkdir()
    with pytest.raises(FileNotFoundError, match="incomplete"):
        read_meta(str(tmp_path / "half"))


def test_unreachable_uri():
    with pytest.raises(ValueError, match="cannot open"):
        read_meta("nosuchprotocol://bucket/ds")


def test_ray_dataset_keeps_tensor_column(ray_session, tmp_path):
    uri = str(tmp_path / "ds")
    frames = make_frames(100, length=16)
    write(uri, frames)
    ds = to_ray_dataset(uri)
    batches = list(ds.iter_batches(batch_size=1000, batch_format="numpy"))
    ids = np.concatenate([b["id"] for b in batches])
    iq = np.concatenate([b["iq"] for b in batches])
    order = np.argsort(ids)
    assert iq.shape == (100, 2, 16) and iq.dtype == np.float32
    np.testing.assert_array_equal(iq[order], frames.iq)


def test_unknown_snr_needs_the_writers_permission(tmp_path):
    good = make_frames(12, length=16)
    snr = good.snr_db.copy()
    snr[[2, 5, 6]] = np.nan
    unknown = Frames(good.ids, good.labels, snr, good.iq)
    with pytest.raises(ValueError, match=r"snr holds NaN \(first at row 2, id 2\).*snr_unknown_ok"):
        write(str(tmp_path / "refused"), unknown)
    assert not (tmp_path / "refused").exists()
    uri = str(tmp_path / "ds")
    meta = write(uri, unknown, snr_unknown_ok=True)
    assert meta.snr_unknown_rows == 3 and read_meta(uri).snr_unknown_rows == 3
    np.testing.assert_array_equal(np.flatnonzero(np.isnan(read_frames(uri).snr_db)), [2, 5, 6])
    snr[7] = np.inf
    with pytest.raises(ValueError, match=r"snr holds inf \(first at row 7, id 7\)"):
        write(
            str(tmp_path / "inf"), Frames(good.ids, good.labels, snr, good.iq), snr_unknown_ok=True
        )
    assert not (tmp_path / "inf").exists()


def test_snr_grid_leaves_out_nan_and_sample_rate_is_recorded(tmp_path):
    uri = str(tmp_path / "ds")
    frames = make_frames(6, length=16)
    with DatasetWriter(
        uri, CLASSES, 16, [10, float("nan"), -10], {}, sample_rate_hz=1_000_000
    ) as writer:
        writer.write(frames)
    meta = read_meta(uri)
    assert meta.snr_grid_db == [-10.0, 10.0] and meta.sample_rate_hz == 1e6
    assert meta.snr_unknown_rows == 0
    for bad in (0.0, -1.0, float("inf"), "1 MHz", True):
        with pytest.raises(ValueError, match="sample_rate_hz must be"):
            DatasetWriter(str(tmp_path / "bad"), CLASSES, 16, [0], {}, sample_rate_hz=bad)


def test_dataset_json_without_the_new_keys_still_loads(tmp_path):
    uri = str(tmp_path / "ds")
    write(uri, make_frames(10))
    path = tmp_path / "ds" / "dataset.json"
    body = json.loads(path.read_text())
    assert body["sample_rate_hz"] is None and body["snr_unknown_rows"] == 0
    del body["sample_rate_hz"], body["snr_unknown_rows"]
    path.write_text(json.dumps(body))
    meta = read_meta(uri)
    assert meta.sample_rate_hz is None and meta.snr_unknown_rows == 0 and meta.num_rows == 10


def test_added_shards_declare_their_unknown_snr(tmp_path):
    with (
        pytest.raises(ValueError, match="unknown SNR; pass snr_unknown_ok=True"),
        DatasetWriter(str(tmp_path / "ds"), CLASSES, 16, [0], {}) as writer,
    ):
        info = write_shard(writer.staging_uri, "part-00000.parquet", make_frames(4, length=16))
        writer.add_shard(info, snr_unknown_rows=1)
    assert list(tmp_path.iterdir()) == []
