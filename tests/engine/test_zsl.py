"""engine.zsl: attributes, groups, metrics, leakage guards, the GAN on a toy task, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from engine.cli import main
from engine.data.generate import generate
from engine.zsl import (
    ClassifierConfig,
    GanConfig,
    UnseenDataError,
    ZslConfig,
    check_seen_only,
    harmonic_mean,
    load_attribute_table,
    load_config,
    pipeline,
    prototype_baseline,
    resolve_group,
    search_settings,
    seen_unseen_curve,
    split_train_test,
    synthesize,
    train_gan,
    tune_groups,
    zsl_metrics,
)
from engine.zsl.report import PAPER_TABLE5

CLASSES = ["BPSK", "QPSK", "2ASK", "4ASK", "16QAM", "32QAM", "64QAM"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- metrics -------------------------------------------------------------------------------


@pytest.mark.parametrize("group", sorted(PAPER_TABLE5))
def test_harmonic_mean_reproduces_the_paper_table(group):
    seen, unseen, h, _ = PAPER_TABLE5[group]
    assert harmonic_mean(seen, unseen) == pytest.approx(h, abs=1e-4)


def test_harmonic_mean_edge_cases():
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert harmonic_mean(1.0, 0.0) == 0.0
    assert harmonic_mean(0.5, 0.5) == 0.5


def test_zsl_metrics_average_per_class_then_over_seen_and_unseen():
    truth = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 0, 0, 1, 1, 0, 2, 1])
    snr = np.array([0, 6, 0, 6, 0, 6, 0, 6], float)
    metrics = zsl_metrics(
        truth,
        predicted,
        snr,
        seen=[0, 1],
        unseen=[2],
        classes=["a", "b", "c"],
        confusion_snr_db=6.0,
    )
    assert metrics["seen_accuracy"] == pytest.approx((0.75 + 0.5) / 2)
    assert metrics["unseen_accuracy"] == pytest.approx(0.5)
    assert metrics["harmonic_mean"] == pytest.approx(harmonic_mean(0.625, 0.5))
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    assert metrics["per_snr"]["0"]["accuracy"] == 1.0
    assert metrics["confusion_at_snr"]["matrix"] == [[1, 1, 0], [1, 0, 0], [0, 1, 0]]
    assert np.sum(metrics["confusion"]) == 8


def _logits_with_gaps(truth, gaps, seen=(0, 1), unseen=(2,)):
    """Logits whose best seen class and best unseen class are right, seen ahead by ``gaps``."""
    logits = np.zeros((len(truth), 3))
    for row, (label, gap) in enumerate(zip(truth, gaps, strict=True)):
        best_seen = label if label in seen else seen[0]
        logits[row, best_seen] = gap
        logits[row, [c for c in seen if c != best_seen]] = gap - 10
        logits[row, unseen[0]] = 0.0
    return logits


def test_seen_unseen_curve_separates_bias_from_information():
    truth = np.array([0, 1] * 50 + [2] * 50)
    # biased but informative: every unseen frame's gap (3) is below every seen frame's (5)
    curve = seen_unseen_curve(
        _logits_with_gaps(truth, [5.0] * 100 + [3.0] * 50), truth, [0, 1], [2]
    )
    assert curve["ausuc"] == pytest.approx(1.0)
    assert (curve["seen_accuracy"][0], curve["unseen_accuracy"][0]) == (1.0, 0.0)  # plain argmax
    assert (curve["seen_accuracy"][-1], curve["unseen_accuracy"][-1]) == (0.0, 1.0)
    # uninformative: the gaps of seen and unseen frames come from one distribution
    gaps = np.random.default_rng(0).normal(2.0, 1.0, 150)
    curve = seen_unseen_curve(_logits_with_gaps(truth, gaps), truth, [0, 1], [2])
    assert 0.35 < curve["ausuc"] < 0.65


def test_prototype_baseline_predicts_by_nearest_semantic_vector():
    rng = np.random.default_rng(0)
    semantics = np.eye(3, dtype=np.float32)
    mix = rng.standard_normal((3, 8))
    features = lambda c, n: semantics[c] @ mix + 0.01 * rng.standard_normal((n, 8))  # noqa: E731
    train = np.concatenate([features(0, 20), features(1, 20)])
    labels = np.repeat([0, 1], 20)
    predicted = prototype_baseline(train, labels, semantics, features(1, 5))
    assert (predicted == 1).all()


# --- attributes ----------------------------------------------------------------------------


def test_builtin_table_fixes_the_bpsk_qpsk_collision():
    table = load_attribute_table("sigzsl7")
    assert table.classes == tuple(CLASSES)
    assert table.rows["BPSK"] != table.rows["QPSK"]
    assert dict(zip(table.attributes, table.rows["QPSK"], strict=True))["order"] == 4
    codes = table.codes(CLASSES)
    assert codes.sum(1).tolist() == [len(table.attributes)] * 7  # one bit per attribute
    assert len({tuple(row) for row in codes}) == 7
    vectors = table.vectors(CLASSES)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_the_paper_table_as_printed_is_rejected():
    with pytest.raises(ValueError, match=r"BPSK.*QPSK.*identical"):
        load_attribute_table("sigzsl7_paper")


def test_thermometer_encoding_is_ordinal():
    table = load_attribute_table("sigzsl7")
    order = table.attributes.index("order")  # levels 2, 4, 16, 32, 64: the first block
    widths = [len({row[a] for row in table.rows.values()}) - 1 for a in range(order + 1)]
    start = sum(widths[:order])
    codes = table.codes(["BPSK", "QPSK", "64QAM"], "thermometer")[:, start : start + 4]
    assert codes.tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]]


def test_description_encodings_hold_each_attribute_in_its_own_block():
    table = load_attribute_table("sigzsl7")
    encodings = table.description_encodings(CLASSES)
    width = int(np.ceil(47 / len(table.attributes)))
    assert encodings.shape == (7, 6, width * len(table.attributes))  # phase_levels: 6 levels
    codes = table.codes(["QPSK"])[0]
    assert encodings[1].sum() == width * len(table.attributes)
    np.testing.assert_array_equal(encodings[1][:2, 0], codes[:2])  # statistical_peaks block


def test_user_tables_and_their_errors(tmp_path):
    body = {
        "name": "mine",
        "attributes": ["order", "kind"],
        "classes": {"A": {"order": 2, "kind": "psk"}, "B": {"order": 4, "kind": "psk"}},
    }
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(body))
    table = load_attribute_table(str(path))
    assert table.codes(["A", "B"]).tolist() == [[1, 0, 1], [0, 1, 1]]
    with pytest.raises(KeyError, match="missing"):
        table.codes(["A", "C"])
    with pytest.raises(ValueError, match="identical"):
        table.select(["kind"])
    body["classes"]["B"] = {"order": 4}
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(ValueError, match="exactly the attributes"):
        load_attribute_table(str(path))
    with pytest.raises(FileNotFoundError):
        load_attribute_table(str(tmp_path / "none.yaml"))


# --- groups, config, leakage guards ----------------------------------------------------------


def test_table4_groups_and_user_groups():
    assert resolve_group(1, CLASSES).unseen == ("BPSK",)
    assert resolve_group(3, CLASSES).unseen == ("QPSK", "4ASK")
    group4 = resolve_group(4, CLASSES)
    assert group4.unseen == ("4ASK", "64QAM")  # Table 4, not the §3.1 sentence
    assert group4.seen == ("BPSK", "QPSK", "2ASK", "16QAM", "32QAM")
    mine = resolve_group({"name": "x", "seen": ["BPSK", "QPSK"], "unseen": ["64QAM"]}, CLASSES)
    assert mine.seen == ("BPSK", "QPSK")
    with pytest.raises(ValueError, match="no seen"):
        resolve_group({"seen": [], "unseen": CLASSES}, CLASSES)
    with pytest.raises(ValueError, match="no unseen"):
        resolve_group({"unseen": []}, CLASSES)
    with pytest.raises(KeyError, match="8PSK"):
        resolve_group({"unseen": ["8PSK"]}, CLASSES)
    with pytest.raises(ValueError, match="both seen and unseen"):
        resolve_group({"seen": ["BPSK"], "unseen": ["BPSK"]}, CLASSES)
    with pytest.raises(KeyError, match="Table 4"):
        resolve_group(5, CLASSES)


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    with pytest.raises(KeyError, match="bogus"):
        ZslConfig.from_dict({"data": "d", "out": "o", "gan": {"bogus": 1}})
    with pytest.raises(ValueError, match="mode"):
        ZslConfig.from_dict({"data": "d", "out": "o", "semantic": {"mode": "magic"}})
    config = ZslConfig.from_dict({"data": "d", "out": "o"}).replace(**{"gan.lr": 0.5})
    assert config.gan.lr == 0.5
    for name in ("zsl_groups", "zsl_quick", "zsl_cpu"):
        assert load_config(f"jobs/configs/{name}.yaml").data


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


# --- the WGAN-GP ----------------------------------------------------------------------------


def _toy_task(seed: int = 0):
    """Six classes whose features are a fixed random map of 5-bit attribute codes."""
    rng = np.random.default_rng(seed)
    codes = np.array(
        [
            [1, 0, 0, 1, 0],
            [0, 1, 0, 1, 0],
            [0, 0, 1, 1, 0],
            [1, 0, 0, 0, 1],
            [0, 1, 0, 0, 1],
            [0, 0, 1, 0, 1],
        ],
        np.float32,
    )
    mix = rng.standard_normal((5, 16)).astype(np.float32)

    def draw(label: int, n: int) -> np.ndarray:
        noisy = codes[label] @ mix + 0.3 * rng.standard_normal((n, 16))
        return np.maximum(noisy, 0).astype(np.float32)

    return codes / np.linalg.norm(codes, axis=1, keepdims=True), draw


def test_gan_on_an_easy_toy_task_makes_unseen_accuracy_beat_chance():
    semantics, draw = _toy_task()
    seen, unseen = [0, 1, 2, 3, 4], [5]
    train = np.concatenate([draw(c, 60) for c in seen])
    labels = np.repeat(seen, 60)
    config = GanConfig(epochs=30, batch_size=30, lr=1e-3, noise_dim=4, hidden=64)
    gan = train_gan(train, labels, semantics, config, seed=0)
    fake, rows = synthesize(gan, semantics[unseen], 100, seed=1)
    assert fake.shape == (100, 16) and np.isfinite(fake).all()
    classifier = pipeline.train_classifier(
        np.concatenate([train, fake]),
        np.concatenate([labels, np.array(unseen)[rows]]),
        6,
        ClassifierConfig(epochs=20, lr=3e-3),
        seed=0,
    )
    test = np.concatenate([draw(c, 40) for c in range(6)])
    truth = np.repeat(range(6), 40)
    predicted = pipeline._predict(pipeline._logits(classifier, test), seen, 0.0)
    metrics = zsl_metrics(truth, predicted, np.zeros(len(truth)), seen, unseen, list("abcdef"))
    assert metrics["unseen_accuracy"] > 0.5  # chance is 1/6
    assert metrics["seen_accuracy"] > 0.8


def test_train_gan_checks_shapes_and_synthesize_checks_the_semantic_size():
    with pytest.raises(ValueError, match="labels must index"):
        train_gan(np.zeros((8, 4)), np.full(8, 3), np.zeros((2, 2)), GanConfig(batch_size=4), 0)
    with pytest.raises(ValueError, match="one batch"):
        train_gan(np.zeros((3, 4)), np.zeros(3), np.zeros((1, 2)), GanConfig(batch_size=4), 0)
    gan = train_gan(
        np.ones((8, 4)), np.zeros(8), np.ones((1, 2)), GanConfig(epochs=1, batch_size=4), 0
    )
    with pytest.raises(ValueError, match="do not fit"):
        synthesize(gan, np.ones((1, 3)), 2, seed=0)


# --- end to end -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_sigzsl7(tmp_path_factory):
    """sigzsl7 at 4 frames per (class, SNR): 3 train / 1 test per key."""
    uri = str(tmp_path_factory.mktemp("zsl") / "ds")
    generate("sigzsl7", uri, scale=0.01, seed=0, executor="local")
    return uri


def test_end_to_end_through_the_cli_and_ray_train(ray_session, tiny_sigzsl7, tmp_path, monkeypatch):
    """Group 1 with the learned semantic module; the WGAN-GP trains on Ray Train (1 worker)."""
    trained_labels: dict[str, list[np.ndarray]] = {}
    real_fit, real_gan, real_classifier = (
        pipeline.fit,
        pipeline.train_gan,
        pipeline.train_classifier,
    )
    index = dict(zip(*[a.tolist() for a in _index(tiny_sigzsl7)], strict=True))

    def fit(name, uri, ids, config):
        trained_labels.setdefault("cnn", []).append(np.array([index[int(i)] for i in ids]))
        return real_fit(name, uri, ids, config)

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


@pytest.mark.slow
def test_tune_grid_and_search(ray_session, tiny_sigzsl7, tmp_path):
    """Groups x seeds as Tune trials, and a two-sample search on the validation task."""
    config = ZslConfig.from_dict(
        {
            "data": tiny_sigzsl7,
            "out": str(tmp_path / "tune"),
            "groups": [1],
            "seeds": [0, 1],
            "figures": False,
            "cnn": {"epochs": 1},
            "semantic": {"mode": "attributes"},
            "gan": {"epochs": 1, "batch_size": 16},
            "classifier": {"epochs": 2},
            "tune": {"num_samples": 2, "space": {"gan.noise_dim": [8, 16]}},
        }
    )
    summary = tune_groups(config)
    assert sorted(run["seed"] for run in summary["runs"]) == [0, 1]
    assert summary["group1"]["runs"] == 2
    found = search_settings(config, 1)
    assert found["best"]["gan.noise_dim"] in (8, 16)
    assert len(found["trials"]) == 2
    assert 0 <= found["best_val"]["val_harmonic_mean"] <= 1
    assert (tmp_path / "tune" / "search.json").exists()
