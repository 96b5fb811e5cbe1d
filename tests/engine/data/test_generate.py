import json

import numpy as np
import pytest

from engine.data.generate import (
    BLOCK_FRAMES,
    GENERATOR_VERSION,
    ensure_generated,
    frames_per_key,
    generate,
    generate_rows,
)
from engine.data.info import dataset_info, format_info
from engine.data.profiles import PROFILES, get_profile
from engine.data.store import read_frames, read_meta, verify


def test_layout_is_class_major_then_snr(tmp_path):
    uri = str(tmp_path / "ds")
    meta = generate("sigzsl7", uri, scale=0.01, seed=3, executor="local", shard_bytes=2**20)
    frames = read_frames(uri)
    profile = get_profile("sigzsl7")
    per_key = 4  # round(400 * 0.01)
    assert meta.num_rows == 7 * 11 * per_key == len(frames)
    np.testing.assert_array_equal(frames.ids, np.arange(meta.num_rows))
    key = frames.ids // per_key
    np.testing.assert_array_equal(frames.labels, key // 11)
    np.testing.assert_array_equal(frames.snr_db, np.array(profile.snr_grid_db)[key % 11])
    assert meta.classes == list(profile.classes) and meta.length == 1024
    assert meta.source["seed"] == 3 and meta.source["frames_per_key"] == per_key
    assert verify(uri) == []


def test_dataset_records_the_generator_version(tmp_path):
    uri = str(tmp_path / "ds")
    generate("sigzsl7", uri, scale=0.002, seed=0, executor="local")
    assert GENERATOR_VERSION == 3  # bumped by issue 18's calibrations (rml2016a, rml2018a)
    assert read_meta(uri).source["generator_version"] == GENERATOR_VERSION
    assert "synthetic sigzsl7 (generator version 3)" in format_info(dataset_info(uri))
    # data from before the field existed reads as version 1
    info = dataset_info(uri)
    del info["source"]["generator_version"]
    assert "(generator version 1)" in format_info(info)


def test_existing_data_is_reused_only_when_it_is_what_generate_would_write(tmp_path):
    uri = str(tmp_path / "ds")
    made = ensure_generated(uri, "rml2016a", scale=0.002, seed=0, executor="local")
    stamp = (tmp_path / "ds" / "dataset.json").stat().st_mtime_ns
    again = ensure_generated(uri, "rml2016a", scale=0.002, seed=0, executor="local")
    assert again.num_rows == made.num_rows == 11 * 20 * 2
    assert (tmp_path / "ds" / "dataset.json").stat().st_mtime_ns == stamp  # not rewritten
    with pytest.raises(ValueError, match=r"at scale 0\.002 with seed 0; delete it"):
        ensure_generated(uri, "rml2016a", scale=0.004, seed=0, executor="local")
    with pytest.raises(ValueError, match="profile 'rml2016a'"):
        ensure_generated(uri, "sig2019", scale=0.002, seed=0, executor="local")
    # a dataset written before rml2016a's frames changed (version 2) is stale, and kept
    body = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    body["source"]["generator_version"] = 1
    (tmp_path / "ds" / "dataset.json").write_text(json.dumps(body))
    with pytest.raises(ValueError, match="generator version 1; rml2016a's frames changed at 2"):
        ensure_generated(uri, "rml2016a", scale=0.002, seed=0, executor="local")
    assert read_meta(uri).num_rows == made.num_rows
    # sigzsl7's frames have not changed since version 1
    other = str(tmp_path / "zsl")
    ensure_generated(other, "sigzsl7", scale=0.002, seed=0, executor="local")
    body = json.loads((tmp_path / "zsl" / "dataset.json").read_text())
    del body["source"]["generator_version"]
    (tmp_path / "zsl" / "dataset.json").write_text(json.dumps(body))
    assert ensure_generated(other, "sigzsl7", scale=0.002, seed=0).num_rows == 7 * 11


def test_same_seed_same_bytes(tmp_path):
    metas = [
        generate(
            "rml2016a",
            str(tmp_path / name),
            scale=0.005,
            seed=7,
            executor="local",
            shard_bytes=50_000,
        )
        for name in ("a", "b")
    ]
    assert [s.sha256 for s in metas[0].shards] == [s.sha256 for s in metas[1].shards]
    other = generate("rml2016a", str(tmp_path / "c"), scale=0.005, seed=8, executor="local")
    assert not np.array_equal(
        read_frames(str(tmp_path / "a")).iq, read_frames(str(tmp_path / "c")).iq
    )
    assert other.num_rows == metas[0].num_rows


def test_frames_do_not_depend_on_shard_boundaries():
    profile = get_profile("rml2016a")
    per_key = BLOCK_FRAMES + 44  # keys span two blocks
    whole = generate_rows(profile, per_key, seed=1, start=0, stop=3 * per_key)
    pieces = [
        generate_rows(profile, per_key, 1, lo, hi) for lo, hi in ((0, 97), (97, 600), (600, 900))
    ]
    np.testing.assert_array_equal(np.concatenate([p.iq for p in pieces]), whole.iq)
    np.testing.assert_array_equal(np.concatenate([p.ids for p in pieces]), whole.ids)


def test_ray_tasks_match_local(ray_session, tmp_path):
    local = generate(
        "sigzsl7", str(tmp_path / "l"), scale=0.02, seed=5, executor="local", shard_bytes=2**20
    )
    remote = generate(
        "sigzsl7", str(tmp_path / "r"), scale=0.02, seed=5, executor="ray", shard_bytes=2**20
    )
    assert len(remote.shards) == len(local.shards) > 1
    assert [s.sha256 for s in remote.shards] == [s.sha256 for s in local.shards]


def test_memory_uri_generates_locally():
    meta = generate("sigzsl7", "memory://gen/ds", scale=0.005, executor="ray")
    assert read_meta("memory://gen/ds").num_rows == meta.num_rows == 7 * 11 * 2


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf"), "1"])
def test_bad_scale(scale, tmp_path):
    with pytest.raises(ValueError, match="scale must be a positive number"):
        generate("rml2016a", str(tmp_path / "ds"), scale=scale)
    assert not (tmp_path / "ds").exists()


def test_unknown_profile(tmp_path):
    with pytest.raises(KeyError, match="known: rml2016a, rml2018a, sig2019, sigzsl7"):
        generate("rml2017", str(tmp_path / "ds"))


def test_profile_sizes_at_scale_one():
    sizes = {name: p.num_rows for name, p in PROFILES.items()}
    assert sizes["rml2016a"] == 220_000
    assert sizes["rml2018a"] == 2_555_904
    assert sizes["sigzsl7"] == 7 * 11 * 400
    assert frames_per_key(get_profile("rml2018a"), 1 / 4096) == 1


def test_estimated_bytes_is_close_to_what_is_written(tmp_path):
    from engine.data.generate import estimated_bytes

    for profile, scale, shard_bytes in (("rml2016a", 0.05, 2**20), ("sigzsl7", 0.05, 2**22)):
        meta = generate(
            profile, str(tmp_path / profile), scale=scale, executor="local", shard_bytes=shard_bytes
        )
        written = sum(s.size_bytes for s in meta.shards)
        assert 0.85 < estimated_bytes(profile, scale, shard_bytes) / written < 1.2, profile


def test_refuses_what_the_disk_cannot_hold(tmp_path, monkeypatch):
    import importlib
    import shutil

    module = importlib.import_module("engine.data.generate")  # the package exports the function

    free = shutil.disk_usage(tmp_path).free
    monkeypatch.setattr(
        module.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**8, 10**8, 10**6)
    )
    out = tmp_path / "new" / "ds"
    with pytest.raises(ValueError) as info:
        generate("rml2016a", str(out), scale=0.05, executor="local")
    assert str(info.value) == (
        f"rml2016a at scale 0.05 is 11,000 frames of L=128, about 12.1 MB; {tmp_path} has "
        "only 1.0 MB free"
    )
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"about 237\.0 PB; .* has only .* free") as info:
        generate("rml2016a", str(out), scale=1e9, executor="local")
    assert "220,000,000,000,000 frames" in str(info.value) and free > 0
    with pytest.raises(ValueError, match="available memory has only"):
        generate("rml2018a", "memory://gen-huge/ds", scale=1e6, executor="local")
    assert list(tmp_path.iterdir()) == []
