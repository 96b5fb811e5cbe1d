"""The t-SNE map of the expanded sets (paper Fig. 4), computed by the grid for the figure.

A reference ``config.model`` is trained on up to ``tsne_reference_frames`` training frames with
the round models' settings (the paper uses the whole training set); the initial target and up to
``TSNE_SELECTED_PER_METHOD`` selected frames of every method at the largest rate (first seed)
are embedded by it and mapped to 2-D in one joint t-SNE. Training runs as a Ray task with one
trial's CPUs: a driver's default OpenMP threads crawl on a busy, oversubscribed machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine._internal import seeds
from engine._internal.seeds import Stream
from engine.data.splits import Split
from engine.data.store import read_frames

if TYPE_CHECKING:
    from engine.benchmark.config import BenchmarkConfig

__all__ = ["TSNE_SELECTED_PER_METHOD", "TsnePoints", "tsne_points"]

TSNE_SELECTED_PER_METHOD = 400


@dataclass(frozen=True)
class TsnePoints:
    """The map drawn by ``figures.tsne``.

    Attributes:
        seed: the benchmark seed whose split and cells are shown.
        target_ids: the initial target of that split.
        selected: ``{method: selected ids shown}``, sorted ids.
        ids: every shown id, sorted (the rows of ``points`` and ``labels``).
        points: ``[n, 2]`` t-SNE coordinates.
        labels: ``[n]`` class indices.
    """

    seed: int
    target_ids: np.ndarray
    selected: dict[str, np.ndarray]
    ids: np.ndarray
    points: np.ndarray
    labels: np.ndarray


def tsne_points(
    config: BenchmarkConfig, runs: list[dict[str, Any]], splits: dict[int, str]
) -> TsnePoints:
    """The t-SNE map at the largest rate of the first seed (trains the reference model)."""
    import ray

    from engine._internal.ray_runtime import ensure_ray

    seed, rate = config.seeds[0], max(config.rates)
    split = Split.load(splits[seed])
    rng = seeds.rng(seed, Stream.TSNE_SHOWN)
    selected = {}
    for method in config.methods:
        found = [
            r
            for r in runs
            if r["method"] == method.name and math.isclose(r["rate"], rate) and r["seed"] == seed
        ]
        if found:
            selected[method.name] = _shown_ids(found[0], rng)
    ids = np.unique(np.concatenate([split.target_ids, *selected.values()]))
    ensure_ray()
    task = ray.remote(num_cpus=config.tune.cpus_per_trial)(_embed_and_map)
    points = ray.get(task.remote(config, split, ids))
    labels = _sorted_frames(config.data, ids).labels
    return TsnePoints(seed, split.target_ids, selected, ids, points, labels)


def _shown_ids(run: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    import pyarrow.parquet as pq

    ids = pq.read_table(run["manifest"], columns=["id"]).column("id").to_numpy()
    if len(ids) > TSNE_SELECTED_PER_METHOD:
        ids = rng.choice(ids, TSNE_SELECTED_PER_METHOD, replace=False)
    return np.sort(ids)


def _sorted_frames(data: str, ids: np.ndarray):
    """The frames of sorted unique ``ids``, in that order."""
    frames = read_frames(data, ids)
    return frames.take(np.argsort(frames.ids, kind="stable"))


def _reference_embedding(config: BenchmarkConfig, split: Split, ids: np.ndarray) -> np.ndarray:
    """Embeddings ``[n, d]`` of sorted unique ``ids`` from the reference model."""
    import torch

    import models
    from engine.training import fit

    rng = seeds.rng(config.seeds[0], Stream.TSNE_REFERENCE)
    training = np.concatenate([split.target_ids, split.pool_ids])
    chosen = rng.choice(training, min(len(training), config.tsne_reference_frames), replace=False)
    weights = fit(config.model, config.data, np.sort(chosen), config.train)
    network = weights.model()
    frames = _sorted_frames(config.data, ids)
    with torch.no_grad():
        parts = [
            models.embedding_and_logits(network, torch.as_tensor(frames.iq[start : start + 512]))[0]
            for start in range(0, len(frames), 512)
        ]
    return torch.cat(parts).numpy()


def _embed_and_map(config: BenchmarkConfig, split: Split, ids: np.ndarray) -> np.ndarray:
    """2-D t-SNE points ``[n, 2]`` of sorted unique ``ids`` (reference-model embeddings)."""
    from sklearn.manifold import TSNE

    embedding = _reference_embedding(config, split, ids)
    perplexity = float(min(30.0, max(2.0, (len(ids) - 1) / 3)))
    tsne = TSNE(perplexity=perplexity, random_state=config.seeds[0], init="pca")
    return tsne.fit_transform(embedding)
