"""Output validation: wrong shapes, NaN, missing needs and bad selections name the scorer."""

from __future__ import annotations

import numpy as np
import pytest

from scorers import (
    DynamicsScorer,
    ModelOutputs,
    Needs,
    PointwiseScorer,
    SetSelector,
    checked_dynamics_score,
    checked_observe,
    checked_score,
    checked_select,
    get_scorer,
    register,
)
from scorers._internal import registry
from scorers._internal.checks import check_scores, check_selection

OUTPUTS = ModelOutputs([1, 2, 3], [0, 1, 0], logits=np.zeros((3, 2)))


@pytest.fixture
def plugin():
    """Register a pointwise plugin returning whatever the test sets in ``returns``."""

    @register("bad_plugin")
    class BadPlugin(PointwiseScorer):
        """Returns a canned value."""

        needs = Needs.LOGITS
        returns: object = None

        def score(self, outputs: ModelOutputs) -> np.ndarray:
            return self.returns

    yield get_scorer("bad_plugin")
    registry._unregister("bad_plugin")


def test_wrong_shape_names_the_plugin(plugin):
    plugin.returns = np.zeros((3, 1))
    with pytest.raises(
        ValueError, match=r"'bad_plugin' returned scores of shape \(3, 1\), expected"
    ):
        checked_score(plugin, OUTPUTS)
    plugin.returns = np.zeros(2)
    with pytest.raises(ValueError, match=r"'bad_plugin'.*expected \(3,\)"):
        checked_score(plugin, OUTPUTS)


def test_nan_and_inf_name_the_plugin(plugin):
    plugin.returns = np.array([0.0, np.nan, np.inf])
    with pytest.raises(ValueError, match=r"'bad_plugin' returned 2 non-finite scores .*position 1"):
        checked_score(plugin, OUTPUTS)
    plugin.returns = ["a", "b", "c"]
    with pytest.raises(ValueError, match="'bad_plugin' returned non-numeric"):
        checked_score(plugin, OUTPUTS)


def test_good_scores_come_back_as_float64(plugin):
    plugin.returns = [1, 2, 3]
    scores = checked_score(plugin, OUTPUTS)
    assert scores.dtype == np.float64 and scores.tolist() == [1.0, 2.0, 3.0]


def test_missing_needs_name_the_scorer():
    with pytest.raises(ValueError, match=r"'margin' needs \['probs'\].*provide only \['logits'\]"):
        checked_score(get_scorer("margin"), OUTPUTS)
    with pytest.raises(ValueError, match="'herding' needs"):
        checked_select(get_scorer("herding"), OUTPUTS, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="'forgetting' needs"):
        checked_observe(get_scorer("forgetting"), 0, ModelOutputs([1], [0]))


def test_calling_the_wrong_kind_is_a_type_error():
    with pytest.raises(TypeError, match="'herding' is a set scorer"):
        checked_score(get_scorer("herding"), OUTPUTS)
    with pytest.raises(TypeError, match="'margin' is a pointwise scorer"):
        checked_dynamics_score(get_scorer("margin"), np.array([1]))


class _Canned(SetSelector):
    name = "canned"

    def __init__(self, returns):
        self.returns = returns

    def select(self, features, k, rng, *, target=None):
        return self.returns


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        ([1, 2, 3], "returned \\(3,\\) int64 values, expected 2 ids"),
        ([1.0, 2.0], "expected 2 ids"),
        ([1, 1], "repeated ids"),
        ([1, 9], "ids not in the pool: \\[9\\]"),
    ],
)
def test_bad_selections_name_the_selector(returns, message):
    with pytest.raises(ValueError, match=f"'canned' .*{message}"):
        checked_select(_Canned(np.array(returns)), OUTPUTS, 2, np.random.default_rng(0))


def test_plain_checks():
    assert check_scores("s", [1, 2], 2).tolist() == [1.0, 2.0]
    assert check_selection("s", [3, 1], np.array([1, 2, 3]), 2).tolist() == [3, 1]


def test_dynamics_scores_are_checked():
    class Broken(DynamicsScorer):
        name = "broken_dynamics"

        def observe(self, epoch, outputs):
            pass

        def score(self, ids):
            return np.full(len(ids), np.nan)

    with pytest.raises(ValueError, match="'broken_dynamics' returned 2 non-finite"):
        checked_dynamics_score(Broken(), np.array([1, 2]))
