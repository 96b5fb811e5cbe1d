"""The product's main path: your target set + a pool from another dataset -> expand -> export."""

import json

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest

from engine.cli import main
from engine.data.store import read_frames, read_meta
from engine.expansion import ExpandConfig, expand
from engine.export import export_run
from engine.training import FitResult
from tests.engine.data.test_align import write_dataset
from tests.engine.data.test_sigmf import write_recording

TRAIN = {"epochs": 1, "batch_size": 32}
SCORING = {"executor": "local", "batch_size": 64}


@pytest.fixture(scope="module")
def own_data(tmp_path_factory):
    """Target: 3 classes, L=32, 12 frames each. Pool: 5 classes in other spellings, L=64."""
    root = tmp_path_factory.mktemp("own")
    write_dataset(str(root / "target"), ["BPSK", "QPSK", "QAM16"], 32, 12, rate=1e6)
    write_dataset(
        str(root / "pool"), ["16QAM", "GMSK", "PSK2", "FM", "4PSK"], 64, 20, seed=1, rate=2e5
    )
    return root


@pytest.fixture(scope="module")
def own_run(own_data):
    config = ExpandConfig.from_dict(
        {
            "target": str(own_data / "target"),
            "pool": str(own_data / "pool"),
            "out": str(own_data / "run"),
            "class_map": {"FM": None},
            "length_policy": "crop",
            "scorer": "margin",
            "model": "cnn1d",
            "rounds": 2,
            "count": 12,
            "train": TRAIN,
            "scoring": SCORING,
        }
    )
    return expand(config)


def test_expand_selects_only_mapped_pool_frames_with_their_provenance(own_data, own_run):
    manifest = own_run.manifest
    assert len(manifest["id"]) == 12
    assert set(manifest["source"]) == {"pool"}
    assert set(manifest["source_class"]) <= {"16QAM", "PSK2", "4PSK"}  # GMSK, FM left out
    pool = read_frames(str(own_data / "pool"), with_iq=False)
    pool_names = np.asarray(read_meta(str(own_data / "pool")).classes)
    by_id = dict(zip(pool.ids.tolist(), pool_names[pool.labels].tolist(), strict=True))
    assert [by_id[i] for i in manifest["source_id"]] == list(manifest["source_class"])
    target_names = {"16QAM": 2, "PSK2": 0, "4PSK": 1}
    assert [target_names[c] for c in manifest["source_class"]] == manifest["label"].tolist()
    metrics = own_run.metrics
    # 36 target frames: 5 per class carved for testing (the floor), 7 per class to train on
    assert metrics["test_size"] == 15 and metrics["initial_target_size"] == 21
    assert metrics["pool_size"] == 60
    assert metrics["alignment"] == {
        "pool_kept": 60,
        "pool_left_out": {"no target class": 40},
        "missing_target_classes": [],
    }
    assert metrics["sources"] == {
        "target": str(own_data / "target"),
        "pool": str(own_data / "pool"),
    }


def test_export_is_read_by_pyarrow_numpy_h5py_and_duse_train(own_data, own_run, capsys):
    run = own_run.run_dir
    out = own_data / "exported"
    assert main(["export", run, "--out", str(out)]) == 0
    assert "33 frames (21 target + 12 selected, 3 classes, L=32)" in capsys.readouterr().out
    table = pq.read_table(sorted(out.glob("part-*.parquet"))[0])
    assert table.column_names == [
        *("id", "label", "snr", "iq"),
        *("source", "source_id", "source_class", "round"),
    ]
    rounds = table.column("round").to_numpy()
    assert (rounds == 0).sum() == 21 and sorted(set(rounds.tolist())) == [0, 1, 2]
    assert set(table.column("source").to_pylist()) == {"target", "pool"}
    selected = table.filter(table.column("round").to_numpy() > 0)
    assert selected.column("source_id").to_pylist() == own_run.manifest["source_id"].tolist()
    assert read_meta(str(out)).classes == ["BPSK", "QPSK", "QAM16"]

    export_run(run, str(own_data / "x.npz"), format="npz")
    arrays = np.load(own_data / "x.npz")  # no pickle needed
    assert arrays["X"].shape == (33, 2, 32) and arrays["classes"].tolist() == [
        "BPSK",
        "QPSK",
        "QAM16",
    ]
    np.testing.assert_array_equal(arrays["X"], read_frames(str(out)).iq)
    export_run(run, str(own_data / "x.h5"), format="hdf5")
    with h5py.File(own_data / "x.h5") as h5:
        assert h5["X"].shape == (33, 2, 32) and h5.attrs["length"] == 32
        assert h5["round"][:].tolist() == arrays["round"].tolist()
    with pytest.raises(FileExistsError):
        export_run(run, str(own_data / "x.h5"), format="hdf5")

    weights = own_data / "m.pt"
    args = ["train", "--data", str(out), "--model", "cnn1d", "--epochs", "1", "--out"]
    assert main([*args, str(weights)]) == 0
    assert FitResult.load(str(weights)).classes == ["BPSK", "QPSK", "QAM16"]


def test_the_final_model_is_saved_and_evaluate_refuses_other_data(own_data, own_run, capsys):
    model = FitResult.load(f"{own_run.run_dir}/model.pt")
    assert model.classes == ["BPSK", "QPSK", "QAM16"] and model.length == 32
    weights = f"{own_run.run_dir}/model.pt"
    assert main(["evaluate", "--data", str(own_data / "target"), "--weights", weights]) == 0
    assert main(["evaluate", "--data", str(own_data / "pool"), "--weights", weights]) == 2
    assert "the weights take frames of L=32" in capsys.readouterr().err
    write_dataset(str(own_data / "renamed"), ["BPSK", "QAM16", "QPSK"], 32, 2)
    assert main(["evaluate", "--data", str(own_data / "renamed"), "--weights", weights]) == 2
    assert "(the same names in another order)" in capsys.readouterr().err


def test_bad_own_data_configs_are_refused(own_data, tmp_path):
    base = {"target": str(own_data / "target"), "pool": str(own_data / "pool"), "out": "x"}
    cases = [
        ({"data": "d"}, "not both"),
        ({"pool": None}, "give data"),
        ({"length_policy": "stretch"}, "unknown length_policy"),
        ({"split": {"target": 0.5}}, "only split.test applies"),
    ]
    for changes, match in cases:
        with pytest.raises(ValueError, match=match):
            ExpandConfig.from_dict({**base, **changes})
    # no length policy: a one-line error before anything is trained
    config = ExpandConfig.from_dict({**base, "out": str(tmp_path / "r"), "model": "cnn1d"})
    with pytest.raises(ValueError, match=r"pool .*L=64, the target has L=32"):
        expand(config)
    # a target too small to carve a test split from
    write_dataset(str(tmp_path / "tiny"), ["BPSK", "QPSK"], 32, 8)
    small = {**base, "target": str(tmp_path / "tiny"), "length_policy": "crop"}
    with pytest.raises(ValueError, match="target class 'BPSK' has 8 frames"):
        expand(ExpandConfig.from_dict({**small, "out": str(tmp_path / "r2"), "model": "cnn1d"}))


def test_a_split_file_beside_other_split_keys_is_refused():
    with pytest.raises(ValueError, match=r"split: file is given, so \['test'\] would be ignored"):
        ExpandConfig.from_dict({"data": "d", "out": "o", "split": {"file": "s.json", "test": 0.3}})


def test_a_sigmf_capture_converted_and_expanded_from_the_cli(own_data, tmp_path, capsys):
    """A recording written by the sigmf library, labels 'bpsk' / 'qpsk' / 'fm' (other case)."""
    rng = np.random.default_rng(5)
    samples = (rng.standard_normal(4096) + 1j * rng.standard_normal(4096)).astype(np.complex64)
    annotations = [
        (0, 1024, {"core:label": "bpsk"}),
        (1024, 1024, {"core:label": "qpsk"}),
        (2048, 1024, {"core:label": "qam16"}),
        (3072, 1024, {"core:label": "bpsk"}),
    ]
    meta_file = write_recording(tmp_path, samples, annotations=annotations, rate_hz=1e6)
    capture = str(tmp_path / "capture")
    assert (
        main(
            [
                "data",
                "convert",
                "--from",
                "sigmf",
                str(meta_file),
                "--out",
                capture,
                "--frame-length",
                "32",
            ]
        )
        == 0
    )
    meta = read_meta(capture)
    assert meta.classes == ["bpsk", "qam16", "qpsk"] and meta.sample_rate_hz == 1e6
    assert meta.num_rows == 128 and meta.snr_unknown_rows == 128
    run = str(tmp_path / "run")
    args = [
        "expand",
        "--target",
        capture,
        "--pool",
        str(own_data / "pool"),
        "--out",
        run,
        "--length-policy",
        "crop",
        "--class-map",
        "FM=,GMSK=",
        "--scorer",
        "duse",
        "--model",
        "cnn1d",
        "--rounds",
        "2",
        "--count",
        "10",
        "--executor",
        "local",
    ]
    assert main(args) == 0
    assert "selected 10 samples in 2 round(s)" in capsys.readouterr().out
    alignment = json.loads((tmp_path / "run" / "alignment.json").read_text())
    assert alignment["pool"]["kept_per_class"] == {"bpsk": 20, "qam16": 20, "qpsk": 20}
    manifest = pq.read_table(f"{run}/manifest.parquet")
    assert set(manifest.column("source_class").to_pylist()) <= {"16QAM", "PSK2", "4PSK"}


def test_benchmark_on_own_data_compares_methods_per_seed(ray_session, own_data, tmp_path):
    from engine.benchmark import BenchmarkConfig, run_benchmark

    values = {
        "target": str(own_data / "target"),
        "pool": str(own_data / "pool"),
        "out": str(tmp_path / "bench"),
        "class_map": {"FM": None},
        "length_policy": "crop",
        "methods": ["random", "margin"],
        "rates": [0.1],
        "seeds": [0, 1],
        "model": "cnn1d",
        "eval_models": ["cnn1d"],
        "train": TRAIN,
        "scoring": SCORING,
        "figures": False,
        "tune": {"max_concurrent_trials": 2, "cpus_per_trial": 1},
    }
    result = run_benchmark(BenchmarkConfig.from_dict(values))
    assert not result.failed and len(result.runs) == 4
    assert {run["pool_size"] for run in result.runs} == {60} and {
        r["budget"] for r in result.runs
    } == {6}
    test_ids = {}
    for seed in (0, 1):
        split = json.loads((tmp_path / "bench" / "splits" / f"seed-{seed}.json").read_text())
        test_ids[seed] = split["test_ids"]
        assert len(split["test_ids"]) == 15 and len(split["target_ids"]) == 21
    assert test_ids[0] != test_ids[1]  # carved per seed
    manifest = pq.read_table(result.runs[0]["manifest"])
    assert set(manifest.column("source").to_pylist()) == {"pool"}
    # the same pool in both seeds: random still draws a different subset per seed
    randoms = [
        pq.read_table(r["manifest"]).column("id").to_pylist()
        for r in sorted(result.runs, key=lambda r: r["seed"])
        if r["method"] == "random"
    ]
    assert len(randoms) == 2 and sorted(randoms[0]) != sorted(randoms[1])
    with pytest.raises(ValueError, match="not both"):
        run_benchmark(BenchmarkConfig.from_dict({**values, "data": str(own_data / "target")}))
