"""Reads of a subset by id touch only the shards and row groups that can hold it, and return
what a full read filtered to those ids returns (in-process, on Ray Data and in the scoring
pass)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

import models
from engine._internal import checksum_cache
from engine.data import store
from engine.data.schema import Frames, frames_to_table
from engine.data.store import (
    DatasetWriter,
    ShardMismatchError,
    iter_frames,
    read_frames,
    read_meta,
    to_ray_dataset,
)
from engine.scoring import ScoringConfig, score_and_select, score_pool
from engine.selection import select
from engine.training import FitResult
from scorers import get_scorer
from tests.conftest import make_frames

LENGTH = 16
GROUP_ROWS = 10  # row groups of 10 frames, shards of 40: ids 0-39, 40-79, ...


@pytest.fixture(autouse=True)
def _own_checksum_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DUSE_CHECKSUM_CACHE", str(tmp_path_factory.mktemp("checksum-cache")))
    checksum_cache.clear()
    yield
    checksum_cache.clear()


def _write(uri: str, n: int = 160, length: int = LENGTH) -> Frames:
    """``n`` frames in shards of 40, row groups of 10 (the byte targets set to fit)."""
    frames = make_frames(n, length=length)
    row = 8 * length + 14
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "_ROW_GROUP_BYTES", GROUP_ROWS * row)
        with DatasetWriter(
            uri, ["a", "b", "c"], length, [-10, 0, 10], {}, shard_bytes=40 * row
        ) as writer:
            writer.write(frames)
    return frames


def _assert_rows(got: Frames, full: Frames, ids) -> None:
    keep = np.isin(full.ids, ids)
    np.testing.assert_array_equal(got.ids, full.ids[keep])
    np.testing.assert_array_equal(got.labels, full.labels[keep])
    np.testing.assert_array_equal(got.snr_db, full.snr_db[keep])
    if got.iq is not None:
        np.testing.assert_array_equal(got.iq, full.iq[keep])


def _shard_path(uri: str, index: int) -> Path:
    return Path(uri) / read_meta(uri).shards[index].name


def test_written_shards_have_row_groups_with_id_statistics(tmp_path):
    uri = str(tmp_path / "ds")
    _write(uri)
    metadata = pq.read_metadata(_shard_path(uri, 1))
    assert metadata.num_row_groups == 4
    np.testing.assert_array_equal(
        store._id_ranges(metadata), [[40, 49], [50, 59], [60, 69], [70, 79]]
    )


@pytest.mark.parametrize(
    "ids",
    [[3], [0, 1, 2, 3], [5, 15, 47, 48, 120, 159], list(range(55, 105)), list(range(160))],
    ids=["one", "head", "scattered", "range", "all"],
)
def test_a_subset_read_is_the_full_read_filtered(tmp_path, ids):
    uri = str(tmp_path / "ds")
    _write(uri)
    full = read_frames(uri)
    _assert_rows(read_frames(uri, np.array(ids[::-1])), full, ids)  # any order, sorted by id
    _assert_rows(read_frames(uri, ids, with_iq=False), full, ids)
    checksum_cache.clear()  # the first read of a shard decodes from the bytes it hashed
    _assert_rows(read_frames(uri, ids), full, ids)


def test_only_the_row_groups_holding_ids_are_decoded(tmp_path, monkeypatch):
    uri = str(tmp_path / "ds")
    _write(uri)
    decoded = []
    real = pq.ParquetFile.read_row_groups

    def spy(self, row_groups, *args, **kwargs):
        table = real(self, row_groups, *args, **kwargs)
        decoded.append((list(row_groups), table.num_rows))
        return table

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)
    # shard 0: groups 0 and 3; shard 1: group 1 (ids 50-59); shards 2, 3: nothing
    frames = read_frames(uri, [1, 2, 35, 52, 59])
    assert decoded == [([0, 3], 20), ([1], 10)]
    np.testing.assert_array_equal(frames.ids, [1, 2, 35, 52, 59])
    decoded.clear()
    assert [len(f) for f in iter_frames(uri, ids=[40, 41, 79])] == [3]
    assert decoded == [([0, 3], 20)]


def test_shards_outside_the_ids_are_not_opened(tmp_path, monkeypatch):
    uri = str(tmp_path / "ds")
    full = _write(uri)
    read_frames(uri)  # every shard checked once
    checked = []
    real = store._checked_shard
    monkeypatch.setattr(
        store,
        "_checked_shard",
        lambda fs, path, shard, *a, **k: (
            checked.append(shard.name) or real(fs, path, shard, *a, **k)
        ),
    )
    _shard_path(uri, 2).write_bytes(b"not a shard")  # ids 80-119, unused below
    _shard_path(uri, 3).unlink()  # ids 120-159
    _assert_rows(read_frames(uri, [0, 45, 79]), full, [0, 45, 79])
    assert checked == ["part-00000.parquet", "part-00001.parquet"]
    with pytest.raises(ShardMismatchError, match=r"part-00002\.parquet has 11 bytes"):
        read_frames(uri, [85])  # a shard that is used is still checked
    with pytest.raises(ShardMismatchError, match=r"part-00003\.parquet is missing"):
        read_frames(uri, [0, 159])


def _rewrite(path: Path, frames: Frames, **write_args) -> None:
    """Rewrite a shard as another tool would, and make ``dataset.json`` agree with it."""
    import hashlib
    import json

    pq.write_table(frames_to_table(frames), path, compression="none", **write_args)
    meta = path.parent / "dataset.json"
    body = json.loads(meta.read_text())
    (shard,) = [s for s in body["shards"] if s["name"] == path.name]
    shard["size_bytes"] = path.stat().st_size
    shard["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    meta.write_text(json.dumps(body))


@pytest.mark.parametrize(
    "layout",
    [{}, {"write_statistics": False}, {"row_group_size": 7, "write_statistics": False}],
    ids=["one row group", "no statistics", "no statistics, small groups"],
)
def test_shards_of_other_layouts_still_read(tmp_path, layout):
    uri = str(tmp_path / "ds")
    full = _write(uri)
    _rewrite(_shard_path(uri, 1), full.take(slice(40, 80)), **layout)
    ids = [3, 41, 44, 70, 79, 100]
    _assert_rows(read_frames(uri, ids), full, ids)


# ------------------------------------------------------------------------------ Ray Data


def _ray_rows(dataset) -> dict[str, np.ndarray]:
    batches = list(dataset.iter_batches(batch_size=None, batch_format="numpy"))
    if not batches:
        return {}
    columns = {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}
    order = np.argsort(columns["id"])
    return {name: values[order] for name, values in columns.items()}


def test_ray_reads_only_the_shards_and_row_groups_holding_ids(ray_session, tmp_path):
    uri = str(tmp_path / "ds")
    full = _write(uri)
    _shard_path(uri, 3).unlink()  # ids 120-159: never needed below
    ids = np.array([1, 2, 35, 52, 59])
    rows = _ray_rows(to_ray_dataset(uri, ["id", "iq"], ids=ids))
    # the row groups holding the ids, whole (the filter is by range; consumers keep the ids)
    delivered = np.r_[0:10, 30:40, 50:60]
    np.testing.assert_array_equal(rows["id"], delivered)
    np.testing.assert_array_equal(rows["iq"], full.iq[delivered])
    assert sorted(rows) == ["id", "iq"]
    assert _ray_rows(to_ray_dataset(uri, ids=[500])) == {}  # no shard holds it
    with pytest.raises(ShardMismatchError, match=r"part-00003\.parquet is missing"):
        to_ray_dataset(uri, ids=[125])


def test_the_ray_filter_covers_the_row_groups_holding_ids_in_few_ranges(tmp_path, monkeypatch):
    uri = str(tmp_path / "ds")
    _write(uri)
    meta = read_meta(uri)
    fs, paths = store._shard_paths(uri, meta)
    used = list(zip(meta.shards, paths, strict=True))
    ids = np.array([5, 25, 45, 95, 145])  # groups 0, 2, 4, 9, 14 of 16
    assert store._read_ranges(fs, used, ids, uri) == [
        [0, 9],
        [20, 29],
        [40, 49],
        [90, 99],
        [140, 149],
    ]
    monkeypatch.setattr(store, "_MAX_ID_RANGES", 2)  # the smallest gaps (11, 11, 41) close
    assert store._read_ranges(fs, used, ids, uri) == [[0, 99], [140, 149]]
    assert store._read_ranges(fs, used[:1], np.arange(40), uri) is None  # nothing to skip


def test_ranges_merge_and_coarsen():
    ranges = np.array([[20, 29], [0, 9], [10, 19], [40, 49], [45, 60], [100, 109]])
    runs = store._merged(ranges)
    assert runs == [[0, 29], [40, 60], [100, 109]]
    assert store._coarsened(runs, 2) == [[0, 60], [100, 109]]
    assert store._coarsened(runs, 1) == [[0, 109]]
    assert store._coarsened(runs, 3) == runs


def test_ray_scoring_pass_reads_the_pool_only_and_selects_as_before(ray_session, tmp_path):
    uri = str(tmp_path / "ds")
    _write(uri, length=32)
    torch.manual_seed(0)
    network = models.build("cnn1d", 3, 32)
    model = FitResult("cnn1d", 3, 32, {k: v.clone() for k, v in network.state_dict().items()})
    pool = np.r_[40:80, 85, 99]  # shards 1 and 2
    exclude = np.array([41, 99])
    scorer = get_scorer("duse")
    local = score_pool(model, uri, pool, scorer, ScoringConfig(executor="local"), exclude=exclude)
    _shard_path(uri, 0).write_bytes(b"x")  # neither pass may touch shards 0 and 3
    _shard_path(uri, 3).unlink()
    chosen = score_and_select(
        model,
        uri,
        pool,
        scorer,
        9,
        balanced=True,
        num_classes=3,
        rng=np.random.default_rng(4),
        config=ScoringConfig(executor="ray", batch_size=16),
        exclude=exclude,
    )
    np.testing.assert_array_equal(local.ids, np.setdiff1d(pool, exclude))
    expected = select(
        local.ids,
        local.scores,
        local.labels,
        9,
        balanced=True,
        num_classes=3,
        rng=np.random.default_rng(4),
    )
    np.testing.assert_array_equal(chosen.ids, expected)
    at = np.searchsorted(local.ids, expected)
    # float32 sums over other batches: equal to ~1e-7
    np.testing.assert_allclose(chosen.scores, local.scores[at], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(chosen.labels, local.labels[at])
