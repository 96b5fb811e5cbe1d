"""``observe: target | pool`` (issue 15 item 2): the dynamics and gradient baselines train
their selection model on the target set, or on the pool they select from (DeepCore's
protocol); the fits the engine makes are recorded to show which set each one saw."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data import Split, generate
from engine.expansion import ExpandConfig, expand
from engine.expansion import rounds as rounds_module
from scorers import get_scorer


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """440 rml2016a frames (40 per class)."""
    uri = str(tmp_path_factory.mktemp("observe") / "ds")
    generate("rml2016a", uri, scale=0.002, seed=0, executor="local")
    return uri


def _expand(dataset: str, out: str, scorer: str, params: dict):
    config = ExpandConfig.from_dict(
        {
            "data": dataset,
            "out": out,
            "scorer": scorer,
            "scorer_params": params,
            "model": "cnn1d",
            "rounds": 1,
            "count": 20,
            "seed": 0,
            "split": {"test": 0.2, "target": 0.2},
            "train": {"epochs": 2, "batch_size": 64},
            "scoring": {"executor": "local", "batch_size": 128},
        }
    )
    return expand(config)


@pytest.fixture
def fitted_ids(monkeypatch):
    """The training ids of every fit the rounds make."""
    seen: list[np.ndarray] = []
    real_fit = rounds_module.fit

    def spy(model_name, data, ids, config=None, on_epoch=None):
        seen.append(np.sort(np.asarray(ids)))
        return real_fit(model_name, data, ids, config, on_epoch=on_epoch)

    monkeypatch.setattr(rounds_module, "fit", spy)
    return seen


@pytest.mark.parametrize(
    "scorer, params",
    [
        ("forgetting", {}),
        ("grand", {"repeats": 2, "warmup_epochs": 1}),
        ("glister", {}),
    ],
)
@pytest.mark.parametrize("observe", ["target", "pool"])
def test_the_selection_model_trains_on_the_observed_set(
    dataset, tmp_path, fitted_ids, scorer, params, observe
):
    result = _expand(dataset, str(tmp_path / "run"), scorer, {**params, "observe": observe})
    split = Split.load(f"{result.run_dir}/splits.json")
    expected = np.sort(split.target_ids if observe == "target" else split.pool_ids)
    repeats = params.get("repeats", 1)
    assert len(fitted_ids) == repeats
    for ids in fitted_ids:
        np.testing.assert_array_equal(ids, expected)
    selected = result.manifest["id"]
    assert len(selected) == 20 and np.isin(selected, split.pool_ids).all()


def test_observing_the_pool_changes_forgetting_scores(dataset, tmp_path):
    # trained on the pool, the counts come from the frames being learned: another ranking
    picks = [
        set(_expand(dataset, str(tmp_path / o), "forgetting", {"observe": o}).manifest["id"])
        for o in ("target", "pool")
    ]
    assert picks[0] != picks[1]


@pytest.mark.parametrize("scorer", ["forgetting", "grand", "glister"])
def test_observe_is_checked(scorer):
    assert get_scorer(scorer).observed_set == "target"
    assert get_scorer(scorer, observe="pool").observed_set == "pool"
    with pytest.raises(ValueError, match=f"scorer '{scorer}': observe must be 'target' or 'pool'"):
        get_scorer(scorer, observe="train")


def test_other_scorers_observe_the_target():
    assert get_scorer("margin").observed_set == "target"
    with pytest.raises(TypeError, match="unexpected keyword argument 'observe'"):
        get_scorer("margin", observe="pool")
