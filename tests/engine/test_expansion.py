"""The DUSE loop end to end on a tiny synthetic set: counts, disjointness, exact quotas, the
same selection on Ray and in-process, resume after a crash, every kind of scorer, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from engine.cli import main
from engine.data import Frames, Split, generate, read_index
from engine.expansion import (
    ExpandConfig,
    budget_size,
    expand,
    round_sizes,
)

NUM_CLASSES = 11


def _text(path: str) -> str:
    return Path(path).read_text()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """880 rml2016a frames (80 per class) in 4 shards."""
    uri = str(tmp_path_factory.mktemp("expansion") / "ds")
    generate("rml2016a", uri, scale=0.004, seed=0, executor="local", shard_bytes=2**18)
    return uri


def _config(dataset: str, out: str, **changes) -> ExpandConfig:
    values = {
        "data": dataset,
        "out": out,
        "scorer": "duse",
        "model": "cnn1d",
        "rounds": 3,
        "count": 66,
        "balanced": True,
        "seed": 1,
        "split": {"test": 0.2, "target": 0.1},
        "train": {"epochs": 1, "batch_size": 64},
        "scoring": {"executor": "local", "batch_size": 128},
        **changes,
    }
    return ExpandConfig.from_dict(values)


@pytest.fixture(scope="module")
def local_run(dataset, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "local")
    return expand(_config(dataset, out))


def test_duse_three_rounds_on_ray_selects_exact_quotas_and_matches_local(
    ray_session, dataset, local_run, tmp_path
):
    config = _config(dataset, str(tmp_path / "ray"), scoring={"executor": "ray", "batch_size": 64})
    result = expand(config)
    split = Split.load(str(tmp_path / "ray" / "splits.json"))
    manifest = result.manifest
    assert len(manifest["id"]) == 66 and len(np.unique(manifest["id"])) == 66  # never twice
    assert np.isin(manifest["id"], split.pool_ids).all()  # never a test or target id
    for round_index in (1, 2, 3):
        labels = manifest["label"][manifest["round"] == round_index]
        assert np.bincount(labels, minlength=NUM_CLASSES).tolist() == [2] * NUM_CLASSES
    np.testing.assert_array_equal(
        result.target_ids, np.sort(np.concatenate([split.target_ids, manifest["id"]]))
    )
    # the same seed selects the same ids, in the same order, on Ray and in-process
    np.testing.assert_array_equal(manifest["id"], local_run.manifest["id"])
    np.testing.assert_array_equal(manifest["round"], local_run.manifest["round"])


def test_run_directory_is_complete(local_run):
    run = local_run.run_dir
    stored = yaml.safe_load(_text(f"{run}/config.yaml"))
    assert stored["scorer"] == "duse" and stored["train"]["epochs"] == 1
    assert stored["rate"] is None and stored["count"] == 66
    table = pq.read_table(f"{run}/manifest.parquet")
    assert table.column_names == [
        *("id", "round", "rank", "score", "label", "snr"),
        *("source", "source_id", "source_class"),
    ]
    # one dataset: each row is its own source, named by its class
    assert set(table.column("source").to_pylist()) == {"data"}
    assert table.column("source_id").to_pylist() == table.column("id").to_pylist()
    assert table.column("rank").to_pylist() == [*range(22), *range(22), *range(22)]
    scores = table.column("score").to_numpy()[:22]
    assert (np.diff(scores) <= 0).all()  # best first within a round
    metrics = json.loads(_text(f"{run}/metrics.json"))
    assert [record["k"] for record in metrics["rounds"]] == [22, 22, 22]
    assert metrics["complete"] and 0 <= metrics["final"]["accuracy"] <= 1
    assert metrics["final"]["n"] == metrics["test_size"] == 176
    assert "Test accuracy" in _text(f"{run}/summary.md")
    split = json.loads(_text(f"{run}/splits.json"))
    assert len(split["pool_ids"]) == metrics["pool_size"]
    quality_keys = {"train_accuracy", "predicted_classes", "classes", "chance", "steps", "warning"}
    for record in [*metrics["rounds"], metrics["final"]]:
        assert set(record["model_quality"]) == quality_keys
    warnings = [w for r in metrics["rounds"] for w in r["warnings"]] + metrics["final"]["warnings"]
    assert _text(f"{run}/summary.md").count("**Warning: ") == len(warnings)
    assert 1 <= metrics["final"]["test_predicted_classes"] <= NUM_CLASSES


def test_models_that_learned_nothing_are_flagged_in_metrics_and_summary(
    dataset, tmp_path, monkeypatch
):
    """Models trained with a vanishing learning rate are flagged from their training frames; an
    evaluation model whose head always picks BPSK is flagged from the test set too."""
    from engine.expansion import loop, rounds

    real_fit = rounds.fit

    def fit_favouring_bpsk(*args, **kwargs):
        result = real_fit(*args, **kwargs)  # quality measured here, before the change
        result.state_dict["head.bias"][3] = 1e4  # class 3 of rml2016a: BPSK
        return result

    monkeypatch.setattr(rounds, "fit", fit_favouring_bpsk)  # the round models
    monkeypatch.setattr(loop, "fit", fit_favouring_bpsk)  # the evaluation model
    out = str(tmp_path / "flat")
    frozen = {"epochs": 1, "batch_size": 64, "optimizer": "sgd", "lr": 1e-12}
    metrics = expand(_config(dataset, out, rounds=2, count=22, train=frozen)).metrics
    summary = _text(f"{out}/summary.md")
    for record in metrics["rounds"]:
        quality = record["model_quality"]
        assert quality["classes"] == NUM_CLASSES and quality["chance"] == pytest.approx(1 / 11)
        assert quality["warning"] is not None and record["warnings"] == [quality["warning"]]
        assert f"- **Warning: round {record['round']}'s model {quality['warning']}**" in summary
    final = metrics["final"]
    single = "predicts a single class on the test set (BPSK)"
    assert final["test_predicted_classes"] == 1
    assert final["warnings"] == [final["model_quality"]["warning"], single]
    assert f"- **Warning: the evaluation model {single}**" in summary
    stored = json.loads(_text(f"{out}/metrics.json"))
    assert stored["final"]["warnings"] == final["warnings"]


def test_resume_after_a_crash_gives_the_identical_manifest(dataset, local_run, tmp_path):
    out = str(tmp_path / "crashed")
    config = _config(dataset, out)

    def crash_after_first_round(record):
        if record.round == 1:
            raise KeyboardInterrupt("driver killed")

    with pytest.raises(KeyboardInterrupt):
        expand(config, on_round_end=crash_after_first_round)
    assert pq.read_table(f"{out}/manifest.parquet").num_rows == 22
    resumed = expand(config)
    for column in ("id", "round", "rank", "score", "label"):
        np.testing.assert_array_equal(resumed.manifest[column], local_run.manifest[column])
    assert resumed.metrics["final"]["accuracy"] == local_run.metrics["final"]["accuracy"]


def test_a_different_config_in_the_same_directory_is_refused(dataset, local_run):
    config = _config(dataset, local_run.run_dir, rounds=2)
    with pytest.raises(ValueError, match=r"different config.*rounds"):
        expand(config)


@pytest.mark.parametrize(
    ("scorer", "params"),
    [("forgetting", {}), ("herding", {}), ("glister", {}), ("grand", {"repeats": 2})],
)
def test_every_kind_of_scorer_runs_the_loop(dataset, tmp_path, scorer, params):
    config = _config(
        dataset,
        str(tmp_path / scorer),
        scorer=scorer,
        scorer_params={**params, **({"warmup_epochs": 1} if scorer == "grand" else {})},
        rounds=2,
        count=23,
        balanced=False,
        evaluate=False,
    )
    result = expand(config)
    assert len(result.selected_ids) == 23 == len(np.unique(result.selected_ids))
    assert result.manifest["round"].tolist() == [1] * 12 + [2] * 11
    assert result.metrics["final"] is None
    if scorer in ("herding", "glister"):
        assert np.isnan(result.manifest["score"]).all()  # set selectors rank, not score


def test_a_fit_cache_reuses_round_models_and_changes_no_selection(dataset, local_run, tmp_path):
    cache = tmp_path / "cache"
    for name in ("first", "second"):  # the second run trains nothing: every round model loads
        out = str(tmp_path / name)
        result = expand(_config(dataset, out, fit_cache=str(cache), evaluate=False))
        assert len(list(cache.glob("*.pt"))) == 3  # one round model per round
        np.testing.assert_array_equal(result.manifest["id"], local_run.manifest["id"])


def test_one_shot_rate_budget(dataset, tmp_path):
    config = _config(dataset, str(tmp_path / "one"), rounds=1, count=None, rate=0.1, balanced=False)
    result = expand(config)
    assert len(result.selected_ids) == budget_size(config, result.metrics["pool_size"]) == 64


def test_budget_arithmetic():
    assert round_sizes(10, 3) == [4, 3, 3]
    config = ExpandConfig(data="d", out="o", rate=0.05, rounds=2)
    assert budget_size(config, 1010) == 51  # 50.5 rounds half up
    assert ExpandConfig(data="d", out="o").rate == 0.04
    with pytest.raises(ValueError, match="larger than the pool"):
        budget_size(ExpandConfig(data="d", out="o", count=11, rounds=1), 10)
    with pytest.raises(ValueError, match="at least one sample"):
        budget_size(ExpandConfig(data="d", out="o", rate=0.01, rounds=5), 100)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"scorer": "no_such_scorer"}, KeyError, "unknown scorer"),
        ({"scorer_params": {"order": "sideways"}}, ValueError, "order"),
        ({"scorer_params": {"colour": 1}}, ValueError, "keyword parameters"),
        ({"model": "no_such_model"}, KeyError, "unknown model"),
        ({"count": 10_000}, ValueError, "larger than the pool"),
        ({"count": 630, "balanced": True}, ValueError, "class-balanced budget"),
        ({"count": None, "rate": 1.5}, ValueError, r"rate must lie in \(0, 1\]"),
        ({"count": None, "rate": 0.0}, ValueError, r"rate must lie in \(0, 1\]"),
        ({"learning": 1}, ValueError, "unknown expand config keys"),
        ({"train": {"epochz": 1}}, ValueError, "unknown training config keys"),
    ],
)
def test_bad_input_fails_before_anything_is_written(dataset, tmp_path, changes, error, match):
    out = tmp_path / "bad"
    with pytest.raises(error, match=match):
        expand(_config(dataset, str(out), **changes))
    assert not out.exists()


def test_a_split_file_whose_pool_overlaps_the_test_ids_is_refused(dataset, local_run, tmp_path):
    split = Split.load(f"{local_run.run_dir}/splits.json")
    bad = Split(
        split.test_ids, split.target_ids, np.union1d(split.pool_ids, split.test_ids[:3]), {}
    )
    bad.save(str(tmp_path / "splits.json"))
    config = _config(dataset, str(tmp_path / "run"), split={"file": str(tmp_path / "splits.json")})
    with pytest.raises(ValueError, match="pool ids are also test ids"):
        expand(config)


def test_cli_expand_from_a_config_file_with_flag_overrides(dataset, tmp_path, capsys):
    config_file = tmp_path / "expand.yaml"
    values = _config(dataset, "unused").to_dict()
    values.pop("out")
    config_file.write_text(yaml.safe_dump(values))
    out = str(tmp_path / "cli")
    argv = ["expand", "--config", str(config_file), "--out", out, "--rounds", "1"]
    assert main([*argv, "--count", "11", "--executor", "local"]) == 0
    assert "selected 11 samples in 1 round(s)" in capsys.readouterr().out
    assert yaml.safe_load(_text(f"{out}/config.yaml"))["rounds"] == 1
    assert main(["expand", "--config", str(config_file), "--out", out, "--scorer", "nope"]) == 2
    assert "unknown scorer 'nope'" in capsys.readouterr().err


def test_run_directory_on_an_fsspec_uri(dataset):
    import fsspec

    out = "memory://expansion-test/run"
    result = expand(_config(dataset, out, rounds=1, count=11, evaluate=False))
    fs = fsspec.filesystem("memory")
    names = {path.rsplit("/", 1)[-1] for path in fs.find("/expansion-test/run")}
    assert {"config.yaml", "splits.json", "manifest.parquet", "metrics.json", "summary.md"} <= names
    assert not [name for name in names if ".partial-" in name]
    assert len(result.manifest["id"]) == 11


def test_an_out_inside_a_dataset_is_refused(dataset):
    with pytest.raises(ValueError, match="is inside the data dataset"):
        expand(_config(dataset, f"{dataset}/run"))
    assert not Path(dataset, "run").exists()


def test_a_split_file_of_another_dataset_with_the_same_ids_is_refused(local_run, tmp_path):
    other = str(tmp_path / "other")  # same profile, scale and ids; other frames
    generate("rml2016a", other, scale=0.004, seed=7, executor="local", shard_bytes=2**18)
    config = _config(
        other, str(tmp_path / "run"), split={"file": f"{local_run.run_dir}/splits.json"}
    )
    with pytest.raises(ValueError, match="was made from another dataset"):
        expand(config)


def test_a_second_run_on_the_same_out_is_refused_and_a_stale_lock_taken_over(dataset, tmp_path):
    import os
    import socket
    import subprocess

    out = tmp_path / "locked"
    out.mkdir()
    lock = {"host": socket.gethostname(), "pid": os.getppid(), "since": 0}  # alive
    (out / ".lock").write_text(json.dumps(lock))
    config = _config(dataset, str(out), rounds=1, count=11, balanced=False, evaluate=False)
    with pytest.raises(ValueError, match=f"in use by pid {os.getppid()} on"):
        expand(config)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing else was written
    gone = subprocess.Popen(["true"])
    gone.wait()
    (out / ".lock").write_text(json.dumps({**lock, "pid": gone.pid}))  # its process is gone
    (out / "rounds").mkdir()
    (out / "rounds" / ".round-0001.json.partial-1234").write_text("half")  # a killed run's
    result = expand(config)
    assert len(result.selected_ids) == 11
    assert not (out / ".lock").exists()  # released
    assert not (out / "rounds" / ".round-0001.json.partial-1234").exists()  # stale staging gone


def test_nan_iq_is_named_as_corrupt_data_before_anything_is_written(tmp_path):
    from engine.data.store import read_frames, read_meta
    from tests.engine.data.test_store import _replace_shard

    uri = str(tmp_path / "ds")
    generate("rml2016a", uri, scale=0.004, seed=0, executor="local", shard_bytes=2**18)
    config = _config(uri, str(tmp_path / "run"), split={"test": 0.2, "target": 0.1})
    split = config.split.make(read_index(uri), NUM_CLASSES, config.seed)
    rows = read_meta(uri).shards[0].num_rows
    first = read_frames(uri).take(slice(0, rows))  # shard 0's frames
    bad_id = int(np.intersect1d(split.target_ids, first.ids)[0])
    iq = first.iq.copy()
    iq[np.flatnonzero(first.ids == bad_id)[0], 1, 3] = np.nan
    _replace_shard(uri, 0, Frames(first.ids, first.labels, first.snr_db, iq))
    with pytest.raises(ValueError, match=f"frame id {bad_id} holds NaN or inf IQ"):
        expand(config)
    assert not (tmp_path / "run").exists()


def test_a_run_from_before_new_settings_existed_still_resumes(dataset, local_run, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(local_run.run_dir, old)
    stored = yaml.safe_load((old / "config.yaml").read_text())
    for key in ("target", "pool", "test", "class_map", "length_policy"):
        stored.pop(key)  # keys added since: absent from older runs
    stored["train"].pop("min_steps")
    (old / "config.yaml").write_text(yaml.safe_dump(stored))
    result = expand(_config(dataset, str(old)))
    np.testing.assert_array_equal(result.manifest["id"], local_run.manifest["id"])
