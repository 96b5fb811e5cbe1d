import dataclasses

import numpy as np
import pytest
import torch

from engine.data import DatasetWriter, Frames
from engine.data.generate import generate
from engine.data.store import read_index
from engine.training import (
    FitResult,
    SemanticHead,
    TrainConfig,
    TrainingDivergedError,
    evaluate,
    fit,
    learning_warning,
    train_batch_size,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """rml2016a at 4 frames per (class, SNR), high SNRs only used for training."""
    uri = str(tmp_path_factory.mktemp("train") / "ds")
    generate("rml2016a", uri, scale=0.004, seed=0, executor="local")
    return uri


def ids_at(uri, snr_min=10):
    index = read_index(uri)
    return index.ids[index.snr_db >= snr_min]


FAST = {"epochs": 3, "batch_size": 32, "lr": 3e-3}


def test_fit_learns_and_is_seeded(dataset):
    ids = ids_at(dataset)
    a = fit("gru", dataset, ids, TrainConfig(**FAST, seed=1))
    b = fit("gru", dataset, ids, TrainConfig(**FAST, seed=1))
    c = fit("gru", dataset, ids, TrainConfig(**FAST, seed=2))
    assert [h["epoch"] for h in a.history] == [1, 2, 3]
    assert a.history[-1]["loss"] < a.history[0]["loss"]
    for key, value in a.state_dict.items():
        torch.testing.assert_close(value, b.state_dict[key])
    assert any(not torch.equal(v, c.state_dict[k]) for k, v in a.state_dict.items())


def test_on_epoch_sees_each_epochs_weights(dataset):
    ids = ids_at(dataset)
    seen: list[tuple[int, FitResult]] = []
    result = fit(
        "cnn1d", dataset, ids, TrainConfig(**FAST), on_epoch=lambda e, w: seen.append((e, w))
    )
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    first, last = seen[0][1].state_dict, seen[-1][1].state_dict
    for key, value in result.state_dict.items():
        torch.testing.assert_close(last[key], value)  # the last snapshot is the result
    assert any(not torch.equal(first[k], v) for k, v in last.items())  # snapshots are copies
    plain = fit("cnn1d", dataset, ids, TrainConfig(**FAST))
    for key, value in plain.state_dict.items():
        torch.testing.assert_close(result.state_dict[key], value)  # the hook changes nothing
    with pytest.raises(ValueError, match="in-process"):
        fit("cnn1d", dataset, ids, TrainConfig(**FAST, workers=1), on_epoch=lambda e, w: None)


def test_fit_leaves_global_torch_rng_alone(dataset):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit("gru", dataset, ids_at(dataset), TrainConfig(epochs=1, batch_size=64))
    torch.testing.assert_close(torch.rand(3), expected)


def test_early_stopping_restores_best_weights(dataset):
    config = TrainConfig(epochs=6, batch_size=32, lr=1e-2, val_fraction=0.3, patience=1, seed=0)
    result = fit("cnn1d", dataset, ids_at(dataset, 0), config)
    val_losses = [h["val_loss"] for h in result.history]
    assert 1 <= len(val_losses) <= 6
    if len(val_losses) < 6:  # stopped early: the last epoch did not improve
        assert val_losses[-1] >= min(val_losses[:-1])


def test_evaluate_metrics(dataset, tmp_path):
    ids = ids_at(dataset, 0)
    result = fit("gru", dataset, ids, TrainConfig(**FAST))
    result.save(str(tmp_path / "m.pt"))
    loaded = FitResult.load(str(tmp_path / "m.pt"))
    metrics = evaluate(loaded, dataset, ids)
    assert metrics["n"] == len(ids)
    confusion = np.array(metrics["confusion"])
    assert confusion.sum() == len(ids) and confusion.shape == (11, 11)
    assert metrics["accuracy"] == pytest.approx(np.trace(confusion) / len(ids))
    assert set(metrics["per_snr"]) == {f"{s}" for s in range(0, 19, 2)}
    per_class = np.diag(confusion) / confusion.sum(1)
    assert list(metrics["per_class"].values()) == pytest.approx(per_class.tolist())


def test_bad_input(dataset):
    ids = ids_at(dataset)
    index = read_index(dataset)
    with pytest.raises(KeyError, match="known"):
        fit("nope", dataset, ids)
    with pytest.raises(ValueError, match="at least one training id"):
        fit("gru", dataset, [])
    with pytest.raises(ValueError, match="one class only"):
        fit("gru", dataset, index.ids[index.labels == 3])
    with pytest.raises(ValueError, match="GPU"):
        fit("gru", dataset, ids, TrainConfig(use_gpu=True))
    with pytest.raises(ValueError, match="bad training config epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainConfig.from_dict({"epochz": 3})


def test_nan_loss_names_the_epoch(dataset):
    config = TrainConfig(epochs=20, batch_size=64, optimizer="sgd", lr=1e12)
    with pytest.raises(TrainingDivergedError, match=r"at epoch \d+"):
        fit("cnn1d", dataset, ids_at(dataset), config)


@pytest.mark.timeout(600)
def test_ray_train_two_workers_load_back(ray_session, dataset):
    ids = ids_at(dataset)
    config = TrainConfig(**FAST, workers=2, cpus_per_worker=0.5)
    result = fit("gru", dataset, ids, config)
    assert not any(k.startswith("module.") for k in result.state_dict)
    assert len(result.history) == 3 and result.history[-1]["loss"] < result.history[0]["loss"]
    metrics = evaluate(result, dataset, ids)  # the weights load into a fresh model
    assert metrics["accuracy"] > 1 / 11


@pytest.mark.timeout(600)
def test_ray_train_one_worker_matches_in_process(ray_session, dataset):
    ids = ids_at(dataset)
    local = fit("gru", dataset, ids, TrainConfig(**FAST))
    remote = fit("gru", dataset, ids, TrainConfig(**FAST, workers=1))
    assert [h["loss"] for h in remote.history] == pytest.approx(
        [h["loss"] for h in local.history], rel=1e-4
    )
    assert remote.quality.keys() == local.quality.keys()  # measured in the driver, same frames
    assert remote.quality["steps"] == local.quality["steps"] == 3 * 14  # 220 frames, batch 16
    assert remote.quality["train_accuracy"] == pytest.approx(
        local.quality["train_accuracy"], abs=0.02
    )


def test_fit_result_save_is_atomic_under_a_file_size_limit(tmp_path):
    from tests.engine._internal.test_atomic import run_under_file_size_limit

    out = tmp_path / "model.pt"
    out.write_bytes(b"the previous model")
    result = run_under_file_size_limit(
        f"""
        import models
        from engine.training import FitResult
        network = models.build("cnn1d", 4, 128)  # far more than 16 KiB of weights
        try:
            FitResult("cnn1d", 4, 128, network.state_dict()).save({str(out)!r})
        except OSError as err:
            print("errno", err.errno)
        """
    )
    assert result.stdout.strip() == "errno 27", result.stderr  # EFBIG, reported
    assert out.read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def _four_class_set(uri: str, iq: np.ndarray, labels: np.ndarray) -> str:
    frames = Frames(
        ids=np.arange(len(labels), dtype=np.int64),
        labels=labels.astype(np.int16),
        snr_db=np.zeros(len(labels), np.float32),
        iq=iq.astype(np.float32),
    )
    with DatasetWriter(uri, ["a", "b", "c", "d"], iq.shape[-1], [0], {"kind": "test"}) as writer:
        writer.write(frames)
    return uri


@pytest.fixture(scope="module")
def noise_and_tones(tmp_path_factory):
    """160 frames of L=128 in 4 classes, twice: Gaussian noise under random labels (nothing to
    learn) and one tone per class, at 0.05, 0.1, 0.2, 0.3 cycles per sample (easy)."""
    root = tmp_path_factory.mktemp("quality")
    rng = np.random.default_rng(0)
    labels = np.arange(160) % 4
    noise = _four_class_set(
        str(root / "noise"), rng.standard_normal((160, 2, 128)), rng.permutation(labels)
    )
    phase = 2 * np.pi * (np.array([0.05, 0.1, 0.2, 0.3])[labels, None] * np.arange(128))
    phase = phase + rng.uniform(0, 2 * np.pi, (160, 1))
    tones = np.stack([np.cos(phase), np.sin(phase)], 1) + 0.3 * rng.standard_normal((160, 2, 128))
    return noise, _four_class_set(str(root / "tones"), tones, labels)


def test_learning_warning_thresholds():
    assert learning_warning(0.375, 3, 4) is None  # 1.5/C itself passes
    assert learning_warning(0.374, 3, 4) == "is near chance (train accuracy 0.374 < 1.5/C = 0.375)"
    assert learning_warning(0.21, 5, 5) == "is near chance (train accuracy 0.21 < 1.5/C = 0.3)"
    assert learning_warning(0.5, 2, 2) == "is near chance (train accuracy 0.5 < 1.5/C = 0.75)"
    assert learning_warning(0.75, 2, 2) is None
    assert learning_warning(0.0625, 24, 24) is None  # 1.5/24
    near = learning_warning(0.062, 24, 24)
    assert near == "is near chance (train accuracy 0.062 < 1.5/C = 0.0625)"
    single = "predicts a single class on its training frames"
    assert learning_warning(1.0, 1, 4) == single  # checked first
    assert learning_warning(0.0, 1, 2) == single


def test_train_batch_size_shrinks_only_small_sets():
    default = TrainConfig()  # epochs 10, batch 256, min_steps 200
    assert train_batch_size(5120, default) == 256  # 5120 * 10 / 200 = 256: untouched
    assert train_batch_size(100_000, default) == 256
    assert train_batch_size(5119, default) == 255
    assert train_batch_size(2000, default) == 100
    assert train_batch_size(320, default) == 16  # 320 * 10 // 200 = 16
    assert train_batch_size(40, default) == 16  # never below 16
    assert train_batch_size(320, TrainConfig(epochs=30, batch_size=64)) == 48
    assert train_batch_size(40, TrainConfig(batch_size=8)) == 8  # nor above batch_size
    assert train_batch_size(320, TrainConfig(min_steps=0)) == 256


def test_a_model_that_cannot_learn_is_flagged_and_one_that_learns_is_not(noise_and_tones, caplog):
    noise, tones = noise_and_tones
    ids = np.arange(160)
    with caplog.at_level("WARNING", logger="engine.training"):
        unlearnable = fit("cnn1d", noise, ids, TrainConfig(epochs=1))
    quality = unlearnable.quality
    assert quality["warning"] is not None
    assert quality["warning"] == learning_warning(
        quality["train_accuracy"], quality["predicted_classes"], 4
    )
    assert quality["classes"] == 4 and quality["chance"] == 0.25
    assert quality["steps"] == 10  # 160 frames in batches of 16 (min_steps), one epoch
    assert f"cnn1d trained on 160 frames (10 steps) {quality['warning']}" in caplog.text

    learned = fit("cnn1d", tones, ids, TrainConfig(epochs=5))
    assert learned.quality["warning"] is None
    assert learned.quality["train_accuracy"] > 0.9 and learned.quality["predicted_classes"] == 4
    assert learned.quality["steps"] == learned.history[-1]["steps"] == 50
    plain = fit("cnn1d", tones, ids, TrainConfig(epochs=5, min_steps=0))
    assert plain.quality["steps"] == 5  # batch 256: one step per epoch


def test_a_fit_result_saved_before_quality_existed_loads(dataset, tmp_path):
    result = fit("gru", dataset, ids_at(dataset), TrainConfig(epochs=1, batch_size=64))
    result.save(str(tmp_path / "new.pt"))
    assert FitResult.load(str(tmp_path / "new.pt")).quality == result.quality
    body = {
        key: value
        for key, value in dataclasses.asdict(result).items()
        if key not in ("classes", "quality")
    }
    torch.save(body, tmp_path / "old.pt")
    old = FitResult.load(str(tmp_path / "old.pt"))
    assert old.quality is None and old.classes is None
    assert evaluate(old, dataset, ids_at(dataset))["n"] == len(ids_at(dataset))


def test_a_semantic_head_is_trained_beside_the_class_head_and_left_out_of_the_result(dataset):
    ids = read_index(dataset).ids
    config = TrainConfig(epochs=4, batch_size=64, seed=3)
    vectors = np.random.default_rng(0).standard_normal((11, 5)).astype(np.float32)
    plain = fit("cnn1d", dataset, ids, config)
    aligned = fit("cnn1d", dataset, ids, config, semantic_head=SemanticHead(vectors, 1.0))
    again = fit("cnn1d", dataset, ids, config, semantic_head=SemanticHead(vectors, 1.0))
    assert aligned.state_dict.keys() == plain.state_dict.keys()  # the head is dropped
    errors = [record["semantic_error"] for record in aligned.history]
    assert errors[-1] < 0.8 * errors[0]  # it learns to regress the vectors (measured: x0.75)
    assert "semantic_error" not in plain.history[0]
    differs = [
        not torch.equal(aligned.state_dict[k], plain.state_dict[k]) for k in plain.state_dict
    ]
    assert all(differs[:-2])  # every feature layer moved differently; the head may too
    assert all(torch.equal(again.state_dict[k], v) for k, v in aligned.state_dict.items())
    with pytest.raises(ValueError, match="weight > 0"):
        SemanticHead(vectors, 0.0)
    with pytest.raises(ValueError, match="in-process"):
        fit("cnn1d", dataset, ids, TrainConfig(workers=1), semantic_head=SemanticHead(vectors, 1))
    with pytest.raises(ValueError, match="NaN"):
        SemanticHead(np.full((11, 5), np.nan, np.float32), 1.0)
    with pytest.raises(ValueError, match="4 class vectors for 11 classes"):
        fit("cnn1d", dataset, ids, config, semantic_head=SemanticHead(vectors[:4], 1.0))


def test_an_epoch_is_cut_into_batches_of_equal_size_not_a_runt(dataset, monkeypatch):
    """65 frames at batch 64 train as 33 + 32, not 64 + 1 (a 1-frame batch takes a full Adam
    step on its noise; docs/benchmark.md, "The step between 7 % and 9 %")."""
    sizes = []

    class Recording(torch.nn.CrossEntropyLoss):
        def forward(self, logits, target):
            sizes.append(len(target))
            return super().forward(logits, target)

    monkeypatch.setattr(torch.nn, "CrossEntropyLoss", Recording)
    ids = read_index(dataset).ids[::13][:65]  # every class
    result = fit("cnn1d", dataset, ids, TrainConfig(epochs=2, batch_size=64, min_steps=0))
    assert sizes == [33, 32, 33, 32] and result.history[-1]["steps"] == 4
