"""The registry: decorator and entry-point registration, lookups, errors, and the contract
every registered scorer meets."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from engine.model_outputs import compute_outputs
from engine.selection import select_set
from scorers import (
    DynamicsScorer,
    ModelOutputs,
    Needs,
    PointwiseScorer,
    available,
    checked_dynamics_score,
    checked_observe,
    checked_score,
    get_scorer,
    register,
)
from scorers._internal import registry

ROOT = Path(__file__).parents[3]
PLUGIN = ROOT / "examples" / "duse-plugin-example"
BUILT_INS = {
    "deepfool": ("pointwise", Needs.IQ | Needs.LOGITS_FN),
    "duse": ("pointwise", Needs.PROBS),
    "entropy": ("pointwise", Needs.PROBS),
    "forgetting": ("dynamics", Needs.LOGITS),
    "glister": ("set", Needs.EMBEDDING | Needs.PROBS | Needs.LOGITS),
    "grand": ("pointwise", Needs.LAST_LAYER_GRAD),
    "herding": ("set", Needs.EMBEDDING),
    "least_confidence": ("pointwise", Needs.PROBS),
    "margin": ("pointwise", Needs.PROBS),
    "random": ("pointwise", Needs.NONE),
}


@pytest.fixture
def scratch_names():
    """Names registered by a test, removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        registry._unregister(name)


def test_built_ins_are_listed_with_kind_and_needs():
    infos = {info.name: info for info in available()}
    for name, (kind, needs) in BUILT_INS.items():
        assert (infos[name].kind, infos[name].needs) == (kind, needs), name
        assert infos[name].doc and infos[name].source.startswith("scorers."), name


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown scorer 'nope'; known scorers: \[.*'margin'"):
        get_scorer("nope")


def test_unknown_parameter_names_the_scorer_and_its_parameters():
    with pytest.raises(TypeError, match=r"scorer 'duse'.*takes the keyword parameters \['order'\]"):
        get_scorer("duse", reverse=True)
    with pytest.raises(TypeError, match="scorer 'margin'"):
        get_scorer("margin", order="largest_first")


def test_decorator_registration(scratch_names):
    @register("double_logit")
    class DoubleLogit(PointwiseScorer):
        """Twice the first logit."""

        needs = Needs.LOGITS

        def score(self, outputs: ModelOutputs) -> np.ndarray:
            return 2 * outputs.logits[:, 0]

    scratch_names.append("double_logit")
    scorer = get_scorer("double_logit")
    assert isinstance(scorer, DoubleLogit) and scorer.name == "double_logit"
    info = next(info for info in available() if info.name == "double_logit")
    assert (info.kind, info.needs, info.doc) == (
        "pointwise",
        Needs.LOGITS,
        "Twice the first logit.",
    )
    with pytest.raises(ValueError, match="'double_logit' is already registered"):
        register("double_logit")(type("Other", (PointwiseScorer,), {}))


def test_registration_rejects_non_scorers_and_bad_names():
    with pytest.raises(TypeError, match="must be a subclass"):
        register("not_a_scorer")(dict)
    with pytest.raises(ValueError, match="lower_snake"):
        register("Bad-Name")(type("Bad", (PointwiseScorer,), {}))


# ---- the contract every registered pointwise and dynamics scorer meets -----------------------


class TinyModel(nn.Module):
    """features: flatten + Linear(2L, 4) + tanh; head Linear(4, 3); weights from a seed."""

    def __init__(self, length: int, seed: int) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(2 * length, 4), nn.Tanh())
        self.head = nn.Linear(4, 3)
        rng = np.random.default_rng(seed)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.as_tensor(rng.standard_normal(parameter.shape)))

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(iq))


POOL_RNG = np.random.default_rng(0)
IQ = POOL_RNG.standard_normal((12, 2, 8)).astype(np.float32)
LABELS = np.arange(12) % 3
IDS = np.arange(500, 512)
NAMES = [info.name for info in available()]


def _run(name: str) -> np.ndarray:
    scorer = get_scorer(name)
    if isinstance(scorer, DynamicsScorer):
        for epoch in range(3):
            outputs = compute_outputs(TinyModel(8, epoch), IQ, LABELS, scorer.needs, ids=IDS)
            checked_observe(scorer, epoch, outputs)
        return checked_dynamics_score(scorer, IDS)
    outputs = compute_outputs(TinyModel(8, 0), IQ, LABELS, scorer.needs, ids=IDS)
    return checked_score(scorer, outputs)


@pytest.mark.parametrize("name", NAMES)
def test_contract(name):
    kind = next(info.kind for info in available() if info.name == name)
    if kind == "set":
        scorer = get_scorer(name)
        features = compute_outputs(TinyModel(8, 0), IQ, LABELS, scorer.needs, ids=IDS)
        target = compute_outputs(TinyModel(8, 0), IQ[:6], LABELS[:6], scorer.needs)
        picks = [
            select_set(
                scorer,
                features,
                5,
                balanced=balanced,
                num_classes=3,
                rng=np.random.default_rng(1),
                target=target,
            )
            for balanced in (False, True, False)
        ]
        assert len(set(picks[0].tolist())) == 5 and set(picks[0]) <= set(IDS)
        assert sorted(np.bincount(LABELS[picks[1] - 500], minlength=3)) == [1, 2, 2]
        np.testing.assert_array_equal(picks[0], picks[2])
        return
    first, second = _run(name), _run(name)
    assert first.shape == (12,) and first.dtype == np.float64
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, second)


# ---- a third-party package registered through the entry point -------------------------------


@pytest.fixture(scope="session")
def installed_plugin():
    """``examples/duse-plugin-example`` installed (editable) into this interpreter's env."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip("pip is not available in this environment")
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*command, "--disable-pip-version-check", "-e", str(PLUGIN)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_entry_point_plugin_is_discovered(installed_plugin):
    # a fresh interpreter, as a user's would be: it reads the newly installed package's path
    program = """
import json, numpy as np
from scorers import ModelOutputs, available, checked_score, get_scorer
info = next(info for info in available() if info.name == "max_logit")
scorer = get_scorer("max_logit")
out = ModelOutputs([1, 2], [0, 0], logits=np.array([[3.0, 1.0], [0.5, 2.0]]))
print(json.dumps({"kind": info.kind, "needs": info.needs.names(), "source": info.source,
                  "class": type(scorer).__name__, "scores": checked_score(scorer, out).tolist()}))
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "kind": "pointwise",
        "needs": ["logits"],
        "source": "entry point duse_plugin_example:MaxLogit",
        "class": "MaxLogit",
        "scores": [-3.0, -2.0],
    }


def test_instances_survive_pickling_with_their_name_and_parameters():
    # Ray ships scorers to workers by pickling them
    scorer = pickle.loads(pickle.dumps(get_scorer("duse", order="largest_first")))
    assert (scorer.name, scorer.order) == ("duse", "largest_first")
