"""engine.zsl.gan: the WGAN-GP on a toy task, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest

from engine.zsl import (
    ClassifierConfig,
    GanConfig,
    pipeline,
    synthesize,
    train_gan,
    zsl_metrics,
)


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
