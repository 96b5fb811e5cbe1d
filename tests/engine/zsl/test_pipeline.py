"""engine.zsl.pipeline: leakage guards, the split, end to end through the CLI, resume."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml

from engine.cli import main
from engine.zsl import (
    UnseenDataError,
    ZslConfig,
    check_seen_only,
    harmonic_mean,
    load_attribute_table,
    pipeline,
    resolve_group,
    split_train_test,
)
from tests.engine.zsl.conftest import CLASSES


def test_check_seen_only_raises_on_unseen_labels():
    check_seen_only(np.array([0, 2, 2]), [0, 2], "stage")
    with pytest.raises(UnseenDataError, match=r"stage.*\[1\]"):
        check_seen_only(np.array([0, 1, 2]), [0, 2], "stage")


def test_semantic_module_refuses_unseen_frames():
    encodings = load_attribute_table("sigzsl7").description_encodings(CLASSES)
    iq = np.zeros((3, 2, 64), np.float32)
    with pytest.raises(UnseenDataError, match="semantic module"):
        pipeline.train_semantic_module(
            iq, np.array([1, 2, 0]), encodings, [1, 2], pipeline.SemanticConfig(), seed=0
        )


def test_split_is_stratified_per_class_and_snr():
    labels = np.repeat([0, 1], 40)
    snr = np.tile(np.repeat([0.0, 5.0], 20), 2)
    train, test = split_train_test(labels, snr, np.arange(80), 0.25, seed=0)
    assert len(test) == 20 and len(np.intersect1d(train, test)) == 0
    for label in (0, 1):
        for value in (0.0, 5.0):
            assert np.sum((labels[test] == label) & (snr[test] == value)) == 5


def test_end_to_end_through_the_cli_and_ray_train(ray_session, tiny_sigzsl7, tmp_path, monkeypatch):
    """Group 1 with the learned semantic module; the WGAN-GP trains on Ray Train (1 worker)."""
    trained_labels: dict[str, list[np.ndarray]] = {}
    real_fit, real_gan, real_classifier = (
        pipeline.fit,
        pipeline.train_gan,
        pipeline.train_classifier,
    )
    index = dict(zip(*[a.tolist() for a in _index(tiny_sigzsl7)], strict=True))

    def fit(name, uri, ids, config, **kwargs):
        trained_labels.setdefault("cnn", []).append(np.array([index[int(i)] for i in ids]))
        return real_fit(name, uri, ids, config, **kwargs)

    def gan(features, labels, *args, **kwargs):
        trained_labels.setdefault("gan", []).append(np.asarray(labels))
        return real_gan(features, labels, *args, **kwargs)

    monkeypatch.setattr(pipeline, "fit", fit)
    monkeypatch.setattr(pipeline, "train_gan", gan)
    monkeypatch.setattr(pipeline, "train_classifier", real_classifier)
    config = {
        "data": tiny_sigzsl7,
        "out": str(tmp_path / "out"),
        "groups": [2],
        "tsne_snrs_db": [6.0],
        "cnn": {"epochs": 1, "batch_size": 64},
        "semantic": {"mode": "learned", "epochs": 1, "batch_size": 64},
        "gan": {"epochs": 1, "batch_size": 16, "critic_steps": 2, "workers": 1},
        "classifier": {"epochs": 2, "synthetic_per_class": 20},
    }
    path = tmp_path / "zsl.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["zsl", "--config", str(path), "--group", "1"]) == 0

    two_ask, bpsk = CLASSES.index("2ASK"), CLASSES.index("BPSK")
    for stage in ("cnn", "gan"):
        labels = np.concatenate(trained_labels[stage])
        assert len(labels) and bpsk not in labels, stage  # group 1: BPSK unseen
        assert two_ask in labels  # --group 1 replaced the config's group 2
    run_dir = tmp_path / "out" / "group1" / "seed0"
    results = json.loads((run_dir / "results.json").read_text())
    ours = results["sigzslnet"]
    for key in ("seen_accuracy", "unseen_accuracy", "harmonic_mean", "accuracy"):
        assert 0.0 <= ours[key] <= 1.0
    assert ours["harmonic_mean"] == pytest.approx(
        harmonic_mean(ours["seen_accuracy"], ours["unseen_accuracy"])
    )
    assert len(ours["per_snr"]) == 11
    curve = ours["seen_unseen_curve"]
    assert curve["unseen_accuracy"][0] == 0.0 and curve["seen_accuracy"][-1] == 0.0
    assert 0.0 <= curve["ausuc"] <= 1.0
    assert results["semantic_dim"] == 64
    assert results["histories"]["wgan_gp"][0]["epoch"] == 1
    for figure in ("fig4_accuracy_vs_snr", "fig5_features_BPSK", "fig6_confusion", "fig7_tsne"):
        assert (run_dir / f"{figure}.png").stat().st_size > 1000
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "group1" in summary and "paper Table 5" in summary and "no GAN" in summary
    assert "| no GAN, ESZSL compatibility | 1 |" in summary
    direct = results["baseline_compatibility"]  # the direct baseline, with its own curve
    assert 0.0 <= direct["harmonic_mean"] <= 1.0 and direct["seen_unseen_curve"]["ausuc"] >= 0.0
    assert "| AUSUC |" in summary

    # a rerun keeps the finished run; other settings run it again
    reruns = []
    monkeypatch.setattr(pipeline, "run_group", lambda *a, **k: reruns.append(a) or results)
    assert main(["zsl", "--config", str(path), "--group", "1", "--seeds", "0"]) == 0
    assert reruns == []
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["group1"]["runs"] == 1
    path.write_text(yaml.safe_dump({**config, "classifier": {"epochs": 3}}))
    assert main(["zsl", "--config", str(path), "--group", "1"]) == 0
    assert len(reruns) == 1


def test_a_supplied_feature_cnn_replaces_training(tiny_sigzsl7, tmp_path, monkeypatch):
    """cnn_weights: the pipeline trains no CNN and uses the saved one; a wrong one is refused."""
    import models
    from engine.data.store import read_index
    from engine.training import FitResult, TrainConfig, fit

    index = read_index(tiny_sigzsl7)
    weights = str(tmp_path / "cnn.pt")
    fit("sigzsl_cnn", tiny_sigzsl7, index.ids, TrainConfig(epochs=1, batch_size=64)).save(weights)
    monkeypatch.setattr(pipeline, "fit", lambda *a, **k: pytest.fail("trained a CNN"))
    config = ZslConfig.from_dict(
        {
            "data": tiny_sigzsl7,
            "out": str(tmp_path / "out"),
            "cnn_weights": weights,
            "figures": False,
            "semantic": {"mode": "attributes"},
            "gan": {"epochs": 1, "batch_size": 16},
            "classifier": {"epochs": 1, "synthetic_per_class": 5},
        }
    )
    group = resolve_group(1, CLASSES)
    results = pipeline.run_group(config, group, 0)
    assert results["histories"]["feature_cnn"][0]["epoch"] == 1  # the saved CNN's history
    assert 0.0 <= results["sigzslnet"]["harmonic_mean"] <= 1.0

    short = models.build("sigzsl_cnn", 7, 512)
    FitResult("sigzsl_cnn", 7, 512, short.state_dict()).save(weights)
    with pytest.raises(ValueError, match="L=512"):
        pipeline.run_group(config, group, 0)


def test_a_finished_run_counts_when_only_the_run_selection_or_new_defaults_differ(tmp_path):
    config = ZslConfig.from_dict({"data": "d", "out": str(tmp_path), "seeds": [0]})
    stored = config.to_dict()
    del stored["cnn_weights"]  # written before the setting existed
    (tmp_path / "results.json").write_text(json.dumps({"config": stored, "seed": 0}))
    more_seeds = ZslConfig.from_dict({"data": "d", "out": "elsewhere", "seeds": [0, 1, 2]})
    assert pipeline.finished_run(more_seeds, str(tmp_path)) == {"config": stored, "seed": 0}
    other = ZslConfig.from_dict({"data": "d", "out": str(tmp_path), "gan": {"epochs": 3}})
    assert pipeline.finished_run(other, str(tmp_path)) is None
    assert pipeline.finished_run(config, str(tmp_path / "missing")) is None


def _index(uri):
    from engine.data.store import read_index

    index = read_index(uri)
    return index.ids, index.labels


def test_cli_reports_a_missing_attribute_class_as_a_user_error(tiny_sigzsl7, tmp_path, capsys):
    table = tmp_path / "table.yaml"
    table.write_text(
        yaml.safe_dump(
            {
                "name": "two",
                "attributes": ["order"],
                "classes": {"QPSK": {"order": 4}, "BPSK": {"order": 2}},
            }
        )
    )
    path = tmp_path / "zsl.yaml"
    path.write_text(
        yaml.safe_dump({"data": tiny_sigzsl7, "out": str(tmp_path), "attributes": str(table)})
    )
    assert main(["zsl", "--config", str(path), "--group", "1"]) == 2
    assert "missing from attribute table" in capsys.readouterr().err


def test_the_aligned_feature_cnn_regresses_standardised_seen_vectors(tiny_sigzsl7, tmp_path):
    """cnn_alignment > 0: the feature CNN trains with a semantic head on seen frames only, its
    targets standardised over the seen classes; 0 leaves the seed's plain CNN."""
    config = ZslConfig.from_dict(
        {
            "data": tiny_sigzsl7,
            "out": str(tmp_path / "out"),
            "attributes": "physics",
            "attribute_encoding": "value",
            "cnn_alignment": 0.5,
            "cnn": {"epochs": 2},
            "figures": False,
            "semantic": {"mode": "attributes"},
            "gan": {"epochs": 1, "batch_size": 16},
            "classifier": {"epochs": 1, "synthetic_per_class": 5},
        }
    )
    group = resolve_group(1, CLASSES)
    seen = [CLASSES.index(name) for name in group.seen]
    table = pipeline.load_table(config, list(CLASSES))
    head = pipeline.alignment_head(table, list(CLASSES), seen, config)
    assert head.weight == 0.5 and head.vectors.shape[0] == len(CLASSES)
    np.testing.assert_allclose(head.vectors[seen].mean(0), 0, atol=1e-5)
    varying = head.vectors[seen].std(0) > 0
    np.testing.assert_allclose(head.vectors[seen].std(0)[varying], 1, rtol=1e-4)
    assert (
        pipeline.alignment_head(
            table, list(CLASSES), seen, dataclasses.replace(config, cnn_alignment=0.0)
        )
        is None
    )
    history = pipeline.run_group(config, group, 0)["histories"]["feature_cnn"]
    assert [round(h["epoch"]) for h in history] == [1, 2] and "semantic_error" in history[-1]


def test_calibration_on_validation_reads_no_test_and_no_unseen_frame(tiny_sigzsl7, monkeypatch):
    """calibration: validation picks each method's γ on the validation task (pseudo-unseen seen
    classes, seen training frames only) and the test run uses it."""
    config = ZslConfig.from_dict(
        {
            "data": tiny_sigzsl7,
            "out": "unused",
            "figures": False,
            "cnn": {"epochs": 1, "batch_size": 64},
            "semantic": {"mode": "attributes"},
            "gan": {"epochs": 1, "batch_size": 16},
            "classifier": {"epochs": 1, "synthetic_per_class": 5, "calibration": "validation"},
        }
    )
    group = resolve_group(1, CLASSES)  # BPSK unseen
    ids, labels = _index(tiny_sigzsl7)
    label_of = dict(zip(ids.tolist(), labels.tolist(), strict=True))
    _, test_ids = split_train_test(labels, *_snr_and_ids(tiny_sigzsl7), 0.25, config.split_seed)
    reads: dict[str, list[np.ndarray]] = {"test run": [], "validation": []}
    stage = ["test run"]
    real_read, real_run = pipeline.read_frames, pipeline.run_group

    def read_frames(uri, ids):
        reads[stage[0]].append(np.asarray(ids))
        return real_read(uri, ids)

    inner_runs = []

    def run_group(config, group, seed, **kwargs):  # only the validation task calls it
        inner_runs.append(group)
        stage[0] = "validation"
        try:
            return real_run(config, group, seed, **kwargs)
        finally:
            stage[0] = "test run"

    monkeypatch.setattr(pipeline, "read_frames", read_frames)
    monkeypatch.setattr(pipeline, "run_group", run_group)
    results = real_run(config, group, 0)
    pseudo = inner_runs[0]
    assert len(inner_runs) == 1 and "BPSK" not in (*pseudo.seen, *pseudo.unseen)
    assert len(pseudo.unseen) == 1 and pseudo.unseen[0] in group.seen
    assert len(reads["validation"]) == 2  # its train' and validation frames
    validation_reads = np.concatenate(reads["validation"])
    assert not np.isin(validation_reads, test_ids).any()
    assert CLASSES.index("BPSK") not in {label_of[int(i)] for i in validation_reads}
    chosen = results["calibration"]
    assert list(chosen["validation_group"]["unseen"]) == list(pseudo.unseen)
    for method in ("sigzslnet", "baseline_compatibility"):
        assert np.isfinite(chosen[method]["gamma"])
        assert 0.0 <= chosen[method]["validation_harmonic_mean"] <= 1.0
    # the test run's predictions use the chosen γ: its S and U lie on its own test curve
    ours = results["sigzslnet"]
    assert 0.0 <= ours["harmonic_mean"] <= 1.0


def _snr_and_ids(uri):
    from engine.data.store import read_index

    index = read_index(uri)
    return index.snr_db, index.ids
