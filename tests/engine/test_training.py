import numpy as np
import pytest
import torch

from engine.data.generate import generate
from engine.data.store import read_index
from engine.training import FitResult, TrainConfig, TrainingDivergedError, evaluate, fit


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
    with pytest.raises(KeyError, match="unknown training config keys"):
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
