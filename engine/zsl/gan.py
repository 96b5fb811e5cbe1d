"""Train the conditional WGAN-GP on real seen-class features, in-process or on Ray Train.

Same shape as :mod:`engine.training`: one loop, :func:`_train_gan`, runs in the calling process
(``workers=0``) or as ``TorchTrainer``'s per-worker function (``workers >= 1``, through
:func:`engine._internal.ray_train.run_on_ray_train`: features shared through the object store, G
and D wrapped by ``prepare_model``, rank 0 returns the generator through a checkpoint). The
critic sees real, fake and interpolated features in one forward pass, and the gradient penalty
is taken out of place (``autograd.grad(create_graph=True)``) then back-propagated with an
ordinary ``backward()``, which is DDP-safe (reference/ray.md §3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from engine._internal import seeds
from engine._internal.seeds import Stream
from engine.training import TrainingDivergedError
from engine.zsl.config import GanConfig
from models.zsl import FeatureCritic, FeatureGenerator, gradient_penalty

__all__ = ["GanResult", "synthesize", "train_gan"]

log = logging.getLogger(f"duse.{__name__}")

ADAM_BETAS = (0.5, 0.999)  # f-CLSWGAN (reference/zsl.md §2.2)


@dataclass
class GanResult:
    """A trained generator and its training history.

    Attributes:
        generator_state: state dict of :class:`models.zsl.FeatureGenerator`.
        noise_dim: noise size.
        semantic_dim: semantic vector size.
        feature_dim: feature size.
        hidden: hidden units.
        history: per epoch: ``critic_loss``, ``generator_loss``, ``wasserstein`` (E D(real) −
            E D(fake)), ``gradient_penalty``.
    """

    generator_state: dict[str, torch.Tensor]
    noise_dim: int
    semantic_dim: int
    feature_dim: int
    hidden: int
    history: list[dict[str, float]] = field(default_factory=list)

    def generator(self) -> FeatureGenerator:
        """A fresh generator (eval mode) holding the trained weights."""
        generator = FeatureGenerator(
            self.noise_dim, self.semantic_dim, self.feature_dim, self.hidden
        )
        generator.load_state_dict(self.generator_state)
        return generator.eval()


def _critic_step(generator, critic, optimizer, real, condition, config, noise):
    """One critic update; returns (loss, wasserstein estimate, penalty) as floats."""
    with torch.no_grad():
        fake = generator(noise(len(real)), condition)
    alpha = torch.rand(len(real), 1, generator=noise.generator)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    both = torch.cat([real, fake, interpolates])
    scores = critic(both, condition.repeat(3, 1))
    real_score, fake_score, interpolate_score = scores.split(len(real))
    penalty = gradient_penalty(interpolate_score, interpolates)
    wasserstein = real_score.mean() - fake_score.mean()
    loss = -wasserstein + config.gp_weight * penalty
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item(), wasserstein.item(), penalty.item()


def _generator_step(generator, critic, optimizer, condition, noise) -> float:
    loss = -critic(generator(noise(len(condition)), condition), condition).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


class _Noise:
    """Gaussian noise batches from one seeded generator (one stream per worker)."""

    def __init__(self, dim: int, seed: int) -> None:
        self.dim = dim
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.dim, generator=self.generator)


def _train_gan(job: dict[str, Any], rank: int, world: int, wrap: Callable, report: Callable):
    """The loop shared by both backends; returns (unwrapped generator, history)."""
    config = GanConfig(**job["config"])
    features = torch.as_tensor(job["features"])
    conditions = torch.as_tensor(job["semantics"])[torch.as_tensor(job["labels"], dtype=torch.long)]
    torch.manual_seed(job["seed"])  # identical initial weights on every rank
    generator = FeatureGenerator(
        config.noise_dim, conditions.shape[1], features.shape[1], config.hidden
    )
    critic = FeatureCritic(features.shape[1], conditions.shape[1], config.hidden)
    wrapped_g, wrapped_d = wrap(generator), wrap(critic)
    optimizer_g = torch.optim.Adam(wrapped_g.parameters(), lr=config.lr, betas=ADAM_BETAS)
    optimizer_d = torch.optim.Adam(wrapped_d.parameters(), lr=config.lr, betas=ADAM_BETAS)
    order_rng = seeds.rng(job["seed"], Stream.GAN_ORDER)  # same permutation on every rank
    noise = _Noise(config.noise_dim, seeds.worker_seed(job["seed"], rank))
    share = len(features) // world
    steps = share // config.batch_size
    if steps < 1:
        raise ValueError(
            f"{len(features)} features cannot fill one batch of {config.batch_size} on {world} "
            "workers; lower gan.batch_size"
        )
    history = []
    for epoch in range(1, config.epochs + 1):
        # f-CLSWGAN's schedule: per generator step, critic_steps critic steps on fresh batches,
        # so one epoch is critic_steps passes over this worker's share of the features.
        stream = np.concatenate(
            [
                order_rng.permutation(len(features))[rank * share : (rank + 1) * share][
                    : steps * config.batch_size
                ]
                for _ in range(config.critic_steps)
            ]
        ).reshape(steps * config.critic_steps, config.batch_size)
        sums = {"critic_loss": 0.0, "wasserstein": 0.0, "gradient_penalty": 0.0}
        generator_losses = []
        for step, pos in enumerate(stream):
            real, condition = features[pos], conditions[pos]
            values = _critic_step(wrapped_g, wrapped_d, optimizer_d, real, condition, config, noise)
            for key, value in zip(sums, values, strict=True):
                sums[key] += value / len(stream)
            if (step + 1) % config.critic_steps == 0:
                generator_losses.append(
                    _generator_step(wrapped_g, wrapped_d, optimizer_g, condition, noise)
                )
        record = {"epoch": epoch, **sums, "generator_loss": float(np.mean(generator_losses))}
        if not all(np.isfinite(v) for v in record.values()):
            raise TrainingDivergedError(f"WGAN-GP losses became {record} at epoch {epoch}")
        history.append(record)
        report(record)
        log.debug("gan epoch %d/%d %s", epoch, config.epochs, record)
    return generator.eval(), history


def _train_on_ray(job: dict[str, Any], config: GanConfig):
    """:func:`_train_gan` on ``config.workers`` Ray Train workers, arrays in the object store."""
    from engine._internal.ray_train import run_on_ray_train

    arrays = {key: job.pop(key) for key in ("features", "labels", "semantics")}
    return run_on_ray_train(
        _train_gan,
        job,
        arrays,
        name="wgan-gp",
        workers=config.workers,
        cpus_per_worker=config.cpus_per_worker,
    )


def train_gan(
    features: np.ndarray, labels: np.ndarray, semantics: np.ndarray, config: GanConfig, seed: int
) -> GanResult:
    """Train G and D on real features conditioned on their class's semantic vector.

    Args:
        features: real features ``[n, d]`` float32 (seen classes only; the caller checks).
        labels: row of ``semantics`` for each feature ``[n]`` int.
        semantics: semantic vectors ``[c, s]`` float32, one per class.
        config: :class:`GanConfig`; ``workers >= 1`` trains on Ray Train.
        seed: seeds weights, shuffling and noise.

    Returns:
        The generator weights and the per-epoch history.

    Raises:
        ValueError: shapes disagree or too few features for one batch.
        TrainingDivergedError: a NaN/inf loss (the message names the epoch).
    """
    features = np.ascontiguousarray(features, np.float32)
    semantics = np.ascontiguousarray(semantics, np.float32)
    labels = np.asarray(labels, np.int64)
    if features.ndim != 2 or semantics.ndim != 2 or labels.shape != (len(features),):
        raise ValueError(
            f"train_gan needs features [n, d], labels [n], semantics [c, s]; got "
            f"{features.shape}, {labels.shape}, {semantics.shape}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(semantics)):
        raise ValueError(f"labels must index the {len(semantics)} semantic vectors")
    job = {
        "config": asdict(config),
        "seed": seed,
        "features": features,
        "labels": labels,
        "semantics": semantics,
    }
    if config.workers == 0:
        with torch.random.fork_rng():
            generator, history = _train_gan(job, 0, 1, lambda m: m, lambda record: None)
        state = generator.state_dict()
    else:
        state, history = _train_on_ray(job, config)
    return GanResult(
        state, config.noise_dim, semantics.shape[1], features.shape[1], config.hidden, history
    )


def synthesize(
    result: GanResult, semantics: np.ndarray, per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` synthetic features for each semantic vector.

    Args:
        result: a trained generator.
        semantics: semantic vectors ``[k, s]`` of the classes to synthesise (e.g. the unseen).
        per_class: features per class (>= 1).
        seed: seeds the noise.

    Returns:
        ``(features [k * per_class, d] float32, row of semantics for each [k * per_class])``.

    Raises:
        ValueError: the semantic size differs from the generator's.
    """
    semantics = np.asarray(semantics, np.float32)
    if semantics.ndim != 2 or semantics.shape[1] != result.semantic_dim:
        raise ValueError(
            f"semantic vectors of shape {semantics.shape} do not fit a generator trained on "
            f"{result.semantic_dim}-d vectors"
        )
    rows = np.repeat(np.arange(len(semantics)), per_class)
    noise = torch.randn(len(rows), result.noise_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        features = result.generator()(noise, torch.as_tensor(semantics[rows]))
    return features.numpy(), rows
