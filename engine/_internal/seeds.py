"""Named random streams: every seeded draw of the engine takes its generator or seed from here.

A stream is a constant mixed into the key of a draw, so that draws made from one run seed for
different purposes are independent. Each call site keeps its own key order (the golden tests
pin the numbers it gives), e.g. ``rng(seed, round_index, Stream.SELECTION)`` but
``rng(seed, Stream.TRAIN_ORDER)``.
"""

from __future__ import annotations

import enum

import numpy as np

__all__ = ["Stream", "derived_seed", "rng", "worker_seed"]

# Spreads the per-rank noise seeds of different run seeds apart (a prime; see worker_seed).
_WORKER_SEED_STRIDE = 7919


class Stream(enum.IntEnum):
    """The purpose of a draw, mixed into its key.

    Attributes:
        TRAIN_ORDER: a classifier fit's validation hold-out and epoch permutations
            (``engine.training``), key ``(train seed, TRAIN_ORDER)``.
        GAN_ORDER: the WGAN-GP's batch permutations, the same on every rank
            (``engine.zsl.gan``), key ``(seed, GAN_ORDER)``.
        SELECTION: tie-breaking and random draws of one expansion round's selection
            (``engine.expansion.rounds``), key ``(run seed, round, SELECTION)``.
        EVALUATION: training seed of the evaluation models: the expansion's final model, key
            ``(run seed, 0, EVALUATION)``; a benchmark cell's models, key
            ``(cell seed, EVALUATION, model index)``.
        SPLIT: the test / target / pool split of one dataset (``engine.data.splits``), key
            ``(seed, SPLIT)``.
        OWN_TEST_SPLIT: the test split carved from your own target set
            (``engine.data.splits``), key ``(seed, OWN_TEST_SPLIT)``.
        ZSL_SPLIT: the per (class, SNR) train / test split of the ZSL pipeline
            (``engine.zsl.pipeline``), key ``(split seed, ZSL_SPLIT)``.
        ZSL_VALIDATION: the seen classes held out as pseudo-unseen when tuning ZSL settings
            (``engine.zsl.tune``), key ``(split seed, ZSL_VALIDATION)``.
        TSNE_SHOWN: the selected frames a benchmark's t-SNE figure shows
            (``engine.benchmark.tsne``), key ``(first seed, TSNE_SHOWN)``.
        TSNE_REFERENCE: the training frames of the t-SNE reference model
            (``engine.benchmark.tsne``), key ``(first seed, TSNE_REFERENCE)``.
    """

    TRAIN_ORDER = 0x7A1
    GAN_ORDER = 0x6A4
    SELECTION = 0x5E1EC7
    EVALUATION = 0xE7A1
    SPLIT = 0x5E1
    OWN_TEST_SPLIT = 0x7E57
    ZSL_SPLIT = 0x25C
    ZSL_VALIDATION = 0x7E1
    TSNE_SHOWN = 0x75E
    TSNE_REFERENCE = 0x7EF


def rng(*key: int) -> np.random.Generator:
    """A generator seeded from ``key``: ``np.random.default_rng([*key])``.

    Args:
        key: run seed, round, :class:`Stream`, ... in the call site's order (non-negative).
    """
    return np.random.default_rng([int(part) for part in key])


def derived_seed(*key: int) -> int:
    """A 31-bit seed (for ``torch.manual_seed`` or a training config) from ``key``.

    Independent across every part of the key: the first word of
    ``np.random.SeedSequence([*key])``, shifted right by one bit.

    Args:
        key: run seed, round, :class:`Stream`, ... in the call site's order (non-negative).
    """
    sequence = np.random.SeedSequence([int(part) for part in key])
    return int(sequence.generate_state(1)[0] >> 1)


def worker_seed(seed: int, rank: int) -> int:
    """The seed of one Ray Train worker's own stream (e.g. its noise): ``seed * 7919 + rank``."""
    return seed * _WORKER_SEED_STRIDE + rank
