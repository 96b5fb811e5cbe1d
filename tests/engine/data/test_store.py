import hashlib
import json
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine._internal import checksum_cache
from engine.data import store
from engine.data.info import dataset_info
from engine.data.schema import MAX_CLASSES, Frames, frames_to_table
from engine.data.store import (
    DatasetWriter,
    ShardMismatchError,
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


# ------------------------------------------------------------------ hostile and broken datasets


@pytest.fixture(autouse=True)
def _own_checksum_cache(tmp_path_factory, monkeypatch):
    """Each test starts with an empty checksum cache of its own (in-process and on disk)."""
    monkeypatch.setenv("DUSE_CHECKSUM_CACHE", str(tmp_path_factory.mktemp("checksum-cache")))
    checksum_cache.clear()
    yield
    checksum_cache.clear()


def _meta_path(uri) -> Path:
    return Path(uri) / "dataset.json"


def _edit_meta(uri, change) -> None:
    body = json.loads(_meta_path(uri).read_text())
    change(body)
    _meta_path(uri).write_text(json.dumps(body))


def _record(body: dict, index: int, payload: bytes, frames: Frames | None = None) -> None:
    """Make shard ``index`` of ``body`` describe ``payload`` (and ``frames``) exactly."""
    shard = body["shards"][index]
    shard["size_bytes"] = len(payload)
    shard["sha256"] = hashlib.sha256(payload).hexdigest()
    if frames is not None:
        shard["num_rows"] = len(frames)
        shard["id_min"], shard["id_max"] = int(frames.ids.min()), int(frames.ids.max())
    body["num_rows"] = sum(s["num_rows"] for s in body["shards"])


def _replace_shard(uri, index: int, frames: Frames) -> None:
    """Rewrite shard ``index`` with ``frames`` as another tool would (no checks), and make
    ``dataset.json`` agree with it, so only a content check can tell."""
    sink = pa.BufferOutputStream()
    pq.write_table(frames_to_table(frames), sink, compression="none")
    payload = sink.getvalue().to_pybytes()
    body = json.loads(_meta_path(uri).read_text())
    (Path(uri) / body["shards"][index]["name"]).write_bytes(payload)
    _record(body, index, payload, frames)
    _meta_path(uri).write_text(json.dumps(body))


def _readers(uri):
    return {
        "read_meta": lambda: read_meta(uri),
        "read_frames": lambda: read_frames(uri),
        "read_frames(ids)": lambda: read_frames(uri, ids=[0]),
        "read_index": lambda: read_index(uri),
        "iter_frames": lambda: list(iter_frames(uri, extra=True)),
        "to_ray_dataset": lambda: to_ray_dataset(uri),
        "verify": lambda: verify(uri),
        "info": lambda: dataset_info(uri),
    }


@pytest.mark.parametrize(
    "name",
    ["../../x/secret.parquet", "../outside.parquet", "/etc/passwd", "ABSOLUTE", "a/b.parquet"],
)
def test_shard_names_outside_the_dataset_are_refused_by_every_reader(tmp_path, name):
    uri = str(tmp_path / "d1" / "d2" / "ds")
    write(uri, make_frames(10))
    outside = tmp_path / "outside.parquet"
    (tmp_path / "x").mkdir()
    shard = Path(uri) / "part-00000.parquet"
    payload = shard.read_bytes()
    # the escaping name points at a valid shard with the recorded size and hash
    for target in (tmp_path / "x" / "secret.parquet", outside, tmp_path / "d1" / "outside.parquet"):
        target.write_bytes(payload)
    if name == "ABSOLUTE":
        name = str(outside)
    _edit_meta(uri, lambda body: body["shards"][0].update(name=name))
    for reader, call in _readers(uri).items():
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message, reader
        assert uri in message and repr(name) in message and "part-NNNNN.parquet" in message, reader
    with pytest.raises(ValueError, match="not a shard file name"):
        write_shard(str(tmp_path), "../evil.parquet", make_frames(3))
    assert not (tmp_path / "evil.parquet").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.update(classes=3), "key 'classes' must be a list of non-empty class names"),
        (lambda b: b.update(length="16"), "key 'length' must be an integer, got str '16'"),
        (
            lambda b: b.update(snr_grid_db=[0, "x"]),
            r"key 'snr_grid_db\[1\]' must be a finite number",
        ),
        (lambda b: b.update(source=[]), "key 'source' must be an object"),
        (lambda b: b.update(shards={}), "key 'shards' must be a list of shard objects"),
        (lambda b: b.update(shards=[1]), r"key 'shards\[0\]' must be an object"),
        (lambda b: b["shards"][0].update(x=1), r"shards\[0\] has unknown key\(s\) \['x'\]"),
        (lambda b: b["shards"][1].pop("sha256"), r"shards\[1\] lacks key\(s\) \['sha256'\]"),
        (lambda b: b["shards"][0].update(num_rows=-1), r"'shards\[0\].num_rows' must be .*>= 0"),
        (lambda b: b["shards"][0].update(size_bytes=1.5), r"'shards\[0\].size_bytes' must be an"),
        (lambda b: b["shards"][0].update(sha256="abc"), r"'shards\[0\].sha256' must be 64"),
        (lambda b: b["shards"][1].update(name="part-00000.parquet"), "more than once"),
        (lambda b: b.update(num_rows=99), "key 'num_rows' is 99, the shards hold 40 rows"),
        (lambda b: b.update(snr_unknown_rows="0"), "key 'snr_unknown_rows' must be an integer"),
        (lambda b: b.update(snr_unknown_rows=41), "'snr_unknown_rows' must be at most num_rows"),
        (lambda b: b.update(sample_rate_hz=-1), "key 'sample_rate_hz' must be a number > 0"),
        (lambda b: b.update(extra_key=1), r"unknown key\(s\) \['extra_key'\]"),
        (lambda b: b.pop("classes"), r"lacks key\(s\) \['classes'\]"),
        (lambda b: b.update(format_version=True), "unsupported dataset format_version True"),
    ],
)
def test_dataset_json_of_wrong_types_is_one_line_naming_the_key(tmp_path, change, message):
    uri = str(tmp_path / "ds")
    assert len(write(uri, make_frames(40)).shards) > 1
    _edit_meta(uri, change)
    with pytest.raises(ValueError, match=message) as info:
        read_meta(uri)
    assert str(info.value).startswith(f"{uri}: ") and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "dataset.json must hold a JSON object, got list"),
        ('{"classes": ', "dataset.json is not valid JSON"),
        ("\udcff".encode("utf-8", "surrogateescape").decode("latin1"), "not valid JSON"),
    ],
)
def test_dataset_json_that_is_not_an_object(tmp_path, text, message):
    uri = str(tmp_path / "ds")
    write(uri, make_frames(10))
    _meta_path(uri).write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        read_index(uri)
    assert str(info.value).startswith(f"{uri}: ") and "\n" not in str(info.value)
    _meta_path(uri).write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match=uri):
        read_meta(uri)


@pytest.mark.parametrize("damage", ["footer", "truncated", "zero bytes", "not parquet"])
def test_broken_shards_are_named_with_the_dataset(tmp_path, damage):
    uri = str(tmp_path / "ds")
    meta = write(uri, make_frames(40))
    name = meta.shards[1].name
    shard = Path(uri) / name
    raw = shard.read_bytes()
    broken = {
        "footer": raw[:-12] + bytes(8) + b"PAR1",  # footer length and metadata garbled
        "truncated": raw[: len(raw) // 2],
        "zero bytes": b"",
        "not parquet": b"hello, world" * 10,
    }[damage]
    shard.write_bytes(broken)
    # dataset.json unchanged: the size / checksum check names the shard first
    with pytest.raises(ShardMismatchError, match=f"{uri}: shard {name} ") as info:
        read_frames(uri)
    assert "\n" not in str(info.value)
    # dataset.json rewritten to match the broken bytes: the Parquet reader's error, named
    _edit_meta(uri, lambda body: _record(body, 1, broken))
    for reader in ("read_frames", "read_index", "iter_frames", "to_ray_dataset"):
        with pytest.raises(
            ValueError, match=f"{uri}: shard {name} cannot be read as a Parquet shard"
        ) as info:
            _readers(uri)[reader]()
        assert "\n" not in str(info.value), reader
    problems = verify(uri)
    assert len(problems) == 1 and problems[0].startswith(
        f"{name}: cannot be read as a Parquet shard ("
    )


def test_readers_check_checksums_once_per_file_version(tmp_path, monkeypatch):
    uri = str(tmp_path / "ds")
    meta = write(uri, make_frames(100))
    hashed = []
    real = store._hash_shard
    monkeypatch.setattr(
        store, "_hash_shard", lambda fs, path, keep: hashed.append(path) or real(fs, path, keep)
    )
    read_index(uri)
    assert len(hashed) == len(meta.shards)
    read_frames(uri)
    read_frames(uri, ids=[3, 50])
    list(iter_frames(uri))
    to_ray_dataset(uri)
    assert len(hashed) == len(meta.shards)  # cached: sizes checked, nothing hashed again
    # another process of this machine (in-process cache empty): the disk cache knows them
    checksum_cache.clear()
    read_index(uri)
    assert len(hashed) == len(meta.shards)
    # the disk cache off: hashed once more, then cached in-process
    monkeypatch.setenv("DUSE_CHECKSUM_CACHE", "off")
    checksum_cache.clear()
    read_index(uri)
    read_index(uri)
    assert len(hashed) == 2 * len(meta.shards)


@pytest.mark.parametrize("where", ["local", "memory"])
def test_a_shard_changed_after_it_was_checked_is_refused(tmp_path, where):
    uri = str(tmp_path / "ds") if where == "local" else f"memory://cs-{uuid.uuid4().hex}/ds"
    meta = write(uri, make_frames(100))
    assert len(read_frames(uri)) == 100  # every shard checked and cached
    fs, path = store.resolve(uri)
    name = meta.shards[2].name
    with fs.open(f"{path}/{name}", "rb") as handle:
        data = bytearray(handle.read())
    data[len(data) // 2] ^= 0xFF  # same size: only the hash can tell
    with fs.open(f"{path}/{name}", "wb") as handle:
        handle.write(bytes(data))
    readers = {k: v for k, v in _readers(uri).items() if k not in ("read_meta", "verify")}
    for reader, call in readers.items():
        if reader == "read_frames(ids)":
            call = lambda: read_frames(uri, ids=[meta.shards[2].id_min])  # noqa: E731
        with pytest.raises(ShardMismatchError) as info:
            call()
        assert str(info.value) == (
            f"{uri}: shard {name} does not match its SHA-256 in dataset.json (changed or "
            "corrupt; `duse data verify` lists every problem)"
        ), reader
    # shards it does not touch are still read
    assert len(read_frames(uri, ids=[0, 1])) == 2
    with fs.open(f"{path}/{meta.shards[3].name}", "ab") as handle:
        handle.write(b"x")
    in_shard_3 = [meta.shards[3].id_min]
    with pytest.raises(ShardMismatchError, match=f"shard {meta.shards[3].name} has .* bytes"):
        read_frames(uri, ids=in_shard_3)
    fs.rm(f"{path}/{meta.shards[3].name}")
    with pytest.raises(ShardMismatchError, match=f"shard {meta.shards[3].name} is missing"):
        read_frames(uri, ids=in_shard_3)


def test_verify_checks_content(tmp_path):
    uri = str(tmp_path / "ds")
    meta = write(uri, make_frames(90), shard_bytes=30 * (8 * 16 + 14))
    assert [s.num_rows for s in meta.shards] == [30, 30, 30] and verify(uri) == []
    frames = read_frames(uri)
    first = frames.take(slice(0, 30))
    iq = first.iq.copy()
    iq[3, 1, 5] = np.nan
    iq[7, 0, 0] = np.inf
    snr = first.snr_db.copy()
    snr[4] = np.inf
    snr[[5, 6]] = np.nan
    ids = first.ids.copy()
    ids[9] = ids[8]
    _replace_shard(uri, 0, Frames(ids, first.labels, snr, iq))
    second = frames.take(slice(30, 60))
    overlapping = Frames(second.ids - 25, second.labels, second.snr_db, second.iq)  # ids 5..34
    _replace_shard(uri, 1, overlapping)
    assert verify(uri) == [
        "part-00000.parquet: 1 ids occur more than once, e.g. [8]",
        "part-00000.parquet: 1 frames have an inf SNR (first id 4)",
        "part-00000.parquet: 2 frames hold NaN or inf IQ (first id 3)",
        "24 ids occur in more than one shard (part-00000.parquet, part-00001.parquet), "
        "e.g. [5, 6, 7, 8, 10]",
        "part-00000.parquet, part-00001.parquet: id ranges overlap in dataset.json "
        "([0, 29] and [5, 34])",
        "2 frames have a NaN (unknown) SNR, dataset.json declares snr_unknown_rows = 0",
    ]


def test_verify_accepts_declared_unknown_snr_only(tmp_path):
    good = make_frames(40)
    snr = good.snr_db.copy()
    snr[[1, 2, 35]] = np.nan
    uri = str(tmp_path / "ds")
    write(uri, Frames(good.ids, good.labels, snr, good.iq), snr_unknown_ok=True)
    assert read_meta(uri).snr_unknown_rows == 3 and verify(uri) == []
    _edit_meta(uri, lambda body: body.update(snr_unknown_rows=2))
    assert verify(uri) == [
        "3 frames have a NaN (unknown) SNR, dataset.json declares snr_unknown_rows = 2"
    ]


def test_writers_refuse_bad_rows(tmp_path):
    good = make_frames(10)
    nan_iq = good.iq.copy()
    nan_iq[4, 0, 1] = np.nan
    inf_iq = good.iq.copy()
    inf_iq[2, 1, 0] = -np.inf
    nan_snr, inf_snr = good.snr_db.copy(), good.snr_db.copy()
    nan_snr[6], inf_snr[7] = np.nan, np.inf
    repeated = good.ids.copy()
    repeated[3] = 0
    cases = {
        r"iq holds NaN or inf \(first at row 4, id 4\)": Frames(
            good.ids, good.labels, good.snr_db, nan_iq
        ),
        r"iq holds NaN or inf \(first at row 2, id 2\)": Frames(
            good.ids, good.labels, good.snr_db, inf_iq
        ),
        r"snr holds NaN \(first at row 6, id 6\)": Frames(good.ids, good.labels, nan_snr, good.iq),
        r"snr holds inf \(first at row 7, id 7\)": Frames(good.ids, good.labels, inf_snr, good.iq),
        "ids are not unique": Frames(repeated, good.labels, good.snr_db, good.iq),
    }
    for message, frames in cases.items():
        for use in ("write", "write_shard"):
            with (
                pytest.raises(ValueError, match=message),
                DatasetWriter(str(tmp_path / "ds"), CLASSES, 16, [0], {}) as writer,
            ):
                if use == "write":
                    writer.write(frames)
                else:
                    writer.add_shard(write_shard(writer.staging_uri, "part-00000.parquet", frames))
            assert list(tmp_path.iterdir()) == [], (message, use)
    unknown = Frames(good.ids, good.labels, nan_snr, good.iq)
    info = write_shard(str(tmp_path), "part-00000.parquet", unknown, snr_unknown_ok=True)
    assert info.num_rows == 10


def test_writer_refuses_class_names_the_reader_would_refuse(tmp_path):
    for classes in (["a", ""], ["a", 3]):
        with pytest.raises(ValueError, match="class names must be non-empty strings"):
            DatasetWriter(str(tmp_path / "ds"), classes, 16, [0], {})
    assert list(tmp_path.iterdir()) == []


def test_a_dataset_holds_as_many_classes_as_int16_labels_can_index(tmp_path):
    assert MAX_CLASSES == 32768  # labels 0 .. 32767, the int16 range from 0
    names = [f"c{k}" for k in range(MAX_CLASSES)]
    uri = str(tmp_path / "ds")
    top = make_frames(2, length=16)
    top = Frames(top.ids, np.array([0, MAX_CLASSES - 1], np.int16), top.snr_db, top.iq)
    with DatasetWriter(uri, names, 16, [-10, 0, 10], {}) as writer:
        writer.write(top)
    assert read_meta(uri).num_classes == MAX_CLASSES
    assert read_frames(uri).labels.tolist() == [0, 32767]
    with pytest.raises(ValueError, match="at most 32768 classes fit int16 labels, got 32769"):
        DatasetWriter(str(tmp_path / "more"), [*names, "one more"], 16, [0], {})
