"""engine.zsl.tune: groups x seeds as Tune trials, and the settings search."""

from __future__ import annotations

import pytest

from engine.zsl import (
    ZslConfig,
    search_settings,
    tune_groups,
)


@pytest.mark.slow
def test_tune_grid_and_search(ray_session, tiny_sigzsl7, tmp_path):
    """Groups x seeds as Tune trials, and a two-sample search on the validation task."""
    config = ZslConfig.from_dict(
        {
            "data": tiny_sigzsl7,
            "out": str(tmp_path / "tune"),
            "groups": [1],
            "seeds": [0, 1],
            "figures": False,
            "cnn": {"epochs": 1},
            "semantic": {"mode": "attributes"},
            "gan": {"epochs": 1, "batch_size": 16},
            "classifier": {"epochs": 2},
            "tune": {"num_samples": 2, "space": {"gan.noise_dim": [8, 16]}},
        }
    )
    summary = tune_groups(config)
    assert sorted(run["seed"] for run in summary["runs"]) == [0, 1]
    assert summary["group1"]["runs"] == 2
    found = search_settings(config, 1)
    assert found["best"]["gan.noise_dim"] in (8, 16)
    assert len(found["trials"]) == 2
    assert 0 <= found["best_val"]["val_harmonic_mean"] <= 1
    assert (tmp_path / "tune" / "search.json").exists()
