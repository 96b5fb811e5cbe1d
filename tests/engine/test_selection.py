"""Selection policy: global top-k, exact class quotas, seeded tie-breaks, errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.selection import class_quotas, select, select_set, top_k
from scorers import ModelOutputs, SetSelector


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_top_k_takes_the_highest_best_first():
    scores = np.array([0.1, 0.9, -3.0, 0.5, 0.7])
    assert top_k(scores, 3, _rng()).tolist() == [1, 4, 3]
    assert top_k(scores, 5, _rng()).tolist() == [1, 4, 3, 0, 2]


def test_top_k_matches_a_full_sort_on_a_large_pool():
    scores = _rng(1).standard_normal(100_000)
    np.testing.assert_array_equal(top_k(scores, 500, _rng()), np.argsort(-scores)[:500])


def test_ties_at_the_cut_are_a_seeded_uniform_draw():
    scores = np.array([5.0, 1.0, 1.0, 1.0])
    assert top_k(scores, 2, _rng(3)).tolist() == top_k(scores, 2, _rng(3)).tolist()
    seconds = [int(top_k(scores, 2, _rng(seed))[1]) for seed in range(600)]
    assert seconds.count(0) == 0
    counts = np.bincount(seconds, minlength=4)[1:]
    assert np.all(np.abs(counts - 200) < 60), counts


def test_order_within_a_tie_is_random_too():
    orders = {tuple(top_k(np.array([2.0, 2.0, 1.0]), 2, _rng(seed))) for seed in range(30)}
    assert orders == {(0, 1), (1, 0)}


@pytest.mark.parametrize("k", [0, -1, 6])
def test_k_out_of_range_is_an_error(k):
    with pytest.raises(ValueError, match="k"):
        select(np.arange(5), np.zeros(5), np.zeros(5), k, balanced=False, num_classes=1, rng=_rng())


def test_k_must_be_an_integer():
    with pytest.raises(TypeError, match="integer"):
        top_k(np.zeros(3), 1.5, _rng())
    with pytest.raises(TypeError, match="integer"):
        top_k(np.zeros(3), True, _rng())


def test_bad_inputs_are_errors():
    with pytest.raises(ValueError, match="finite"):
        select([1, 2], [0.0, np.nan], [0, 0], 1, balanced=False, num_classes=1, rng=_rng())
    with pytest.raises(ValueError, match="shape"):
        select([1, 2], [0.0], [0, 0], 1, balanced=False, num_classes=1, rng=_rng())
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        select([1, 2], [0.0, 1.0], [0, 2], 1, balanced=True, num_classes=2, rng=_rng())
    # The global top-k reads no labels: any label is accepted.
    assert select([1, 2], [0.0, 1.0], [0, 7], 1, balanced=False, num_classes=2, rng=_rng()) == [2]


def test_global_selection_ignores_classes():
    ids = np.array([10, 11, 12, 13, 14, 15])
    scores = np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    labels = np.array([0, 0, 0, 1, 1, 2])
    picked = select(ids, scores, labels, 3, balanced=False, num_classes=3, rng=_rng())
    assert picked.tolist() == [10, 11, 12]


def test_balanced_selection_meets_exact_quotas():
    ids = np.array([10, 11, 12, 13, 14, 15])
    scores = np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    labels = np.array([0, 0, 0, 1, 1, 2])
    picked = select(ids, scores, labels, 3, balanced=True, num_classes=3, rng=_rng())
    assert picked.tolist() == [10, 13, 15]  # each class's best, by score
    picked = select(ids, scores, labels, 5, balanced=True, num_classes=3, rng=_rng())
    # quotas 1 + 1 + 1 plus 2 extra for the classes with spare candidates (0 and 1)
    assert picked.tolist() == [10, 11, 13, 14, 15]


def test_class_quotas():
    np.testing.assert_array_equal(class_quotas(np.array([5, 5, 5]), 6, _rng()), [2, 2, 2])
    quotas = [tuple(class_quotas(np.array([5, 5, 5]), 7, _rng(s))) for s in range(30)]
    assert set(quotas) == {(3, 2, 2), (2, 3, 2), (2, 2, 3)}
    quotas = {tuple(class_quotas(np.array([9, 2, 9]), 7, _rng(s))) for s in range(30)}
    assert quotas == {(3, 2, 2), (2, 2, 3)}
    # the remainder only goes to classes that can take it
    assert class_quotas(np.array([2, 5]), 5, _rng()).tolist() == [2, 3]


def test_short_classes_are_named():
    with pytest.raises(ValueError, match="class 1 has only 1 candidates"):
        class_quotas(np.array([5, 1, 5]), 6, _rng())
    with pytest.raises(ValueError, match="only 1 have that many"):
        class_quotas(np.array([2, 2, 4]), 8, _rng())
    with pytest.raises(ValueError, match="class 2 has only 0"):
        select([1, 2, 3], [0.0, 1.0, 2.0], [0, 1, 1], 3, balanced=True, num_classes=3, rng=_rng())


class _Recorder(SetSelector):
    """Picks the first ``k`` rows; records what it was given."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], int, list[int] | None]] = []

    def select(self, features, k, rng, *, target=None):
        target_ids = None if target is None else target.ids.tolist()
        self.calls.append((features.ids.tolist(), k, target_ids))
        return features.ids[:k]


def test_set_selectors_run_per_class_with_quotas_and_class_targets():
    features = ModelOutputs([10, 11, 12, 13, 14], [1, 0, 1, 0, 1])
    target = ModelOutputs([1, 2, 3], [0, 1, 1])
    selector = _Recorder()
    picked = select_set(
        selector, features, 4, balanced=True, num_classes=2, rng=_rng(), target=target
    )
    assert selector.calls == [([11, 13], 2, [1]), ([10, 12, 14], 2, [2, 3])]
    assert picked.tolist() == [11, 13, 10, 12]

    selector = _Recorder()
    picked = select_set(selector, features, 3, balanced=False, num_classes=2, rng=_rng())
    assert selector.calls == [([10, 11, 12, 13, 14], 3, None)]
    assert picked.tolist() == [10, 11, 12]
    with pytest.raises(ValueError, match="larger than the pool"):
        select_set(selector, features, 6, balanced=False, num_classes=2, rng=_rng())
