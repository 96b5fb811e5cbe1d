"""The random scorer: seeded, uniform, and independent of how the pool is batched."""

from __future__ import annotations

import numpy as np
import pytest

from engine.selection import select
from scorers import ModelOutputs, checked_score, get_scorer
from scorers.random import uniform_from_ids


def _outputs(ids) -> ModelOutputs:
    return ModelOutputs(ids, np.zeros(len(ids)))


def test_scores_depend_on_seed_and_id_only():
    ids = np.arange(1000, 1100)
    whole = uniform_from_ids(ids, key=7)
    halves = np.concatenate([uniform_from_ids(ids[50:], 7), uniform_from_ids(ids[:50], 7)])
    np.testing.assert_array_equal(whole, np.roll(halves, 50))
    assert not np.array_equal(whole, uniform_from_ids(ids, key=8))
    assert whole.min() >= 0.0 and whole.max() < 1.0


def test_scores_are_uniform():
    values = uniform_from_ids(np.arange(100_000), key=3)
    counts = np.histogram(values, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts - 10_000) < 500)  # ~5 standard deviations


def test_the_pick_is_uniform_over_seeds():
    ids = np.array([5, 6, 7, 8])
    picks = [
        int(
            select(
                ids,
                checked_score(get_scorer("random", seed=seed), _outputs(ids)),
                np.zeros(4),
                1,
                balanced=False,
                num_classes=1,
                rng=np.random.default_rng(0),
            )[0]
        )
        for seed in range(2000)
    ]
    counts = np.bincount(picks, minlength=9)[5:]
    assert np.all(np.abs(counts - 500) < 100), counts


def test_seed_and_rng_give_repeatable_scores():
    ids = np.arange(10)
    first = get_scorer("random", seed=4).score(_outputs(ids))
    np.testing.assert_array_equal(first, get_scorer("random", seed=4).score(_outputs(ids)))
    from_rng = get_scorer("random", rng=np.random.default_rng(1)).score(_outputs(ids))
    again = get_scorer("random", rng=np.random.default_rng(1)).score(_outputs(ids))
    np.testing.assert_array_equal(from_rng, again)
    assert not np.array_equal(first, from_rng)


def test_bad_arguments_name_the_scorer():
    with pytest.raises(ValueError, match=r"'random'.*not both"):
        get_scorer("random", seed=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"'random'.*seed"):
        get_scorer("random", seed=-1)
    with pytest.raises(TypeError, match=r"'random'.*Generator"):
        get_scorer("random", rng=3)
