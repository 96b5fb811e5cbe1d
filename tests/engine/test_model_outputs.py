"""Per-batch model outputs: closed-form per-sample gradients equal autograd's, one forward pass,
only what was asked for, eval mode, and clear errors for models that cannot provide a need."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional

from engine.model_outputs import (
    EvalLogits,
    check_model_provides,
    compute_outputs,
    model_provides,
    score_batch,
)
from scorers import Needs, get_scorer

ALL_FORWARD = (
    Needs.LOGITS | Needs.PROBS | Needs.EMBEDDING | Needs.LAST_LAYER_GRAD | Needs.INPUT_GRAD
)


class Split(nn.Module):
    """features: flatten, Linear(2L, 5), tanh, dropout; head Linear(5, 3); seeded weights."""

    def __init__(self, length: int = 4, seed: int = 0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * length, 5), nn.Tanh(), nn.Dropout(0.5)
        )
        self.head = nn.Linear(5, 3)
        rng = np.random.default_rng(seed)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.as_tensor(rng.standard_normal(parameter.shape)))
        self.forward_calls = 0
        self.features.register_forward_hook(lambda *_: self._count())

    def _count(self) -> None:
        self.forward_calls += 1

    def forward(self, iq: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(iq))


IQ = np.random.default_rng(1).standard_normal((6, 2, 4)).astype(np.float32)
LABELS = np.array([0, 1, 2, 2, 1, 0])
IDS = np.arange(30, 36)


def _per_sample_autograd(model: Split, index: int):
    """Head and input gradients of sample ``index``'s own loss, by autograd."""
    model.eval()
    model.zero_grad()
    inputs = torch.as_tensor(IQ[index : index + 1]).requires_grad_(True)
    loss = functional.cross_entropy(model(inputs), torch.tensor([LABELS[index]]))
    loss.backward()
    head = torch.cat([model.head.weight.grad, model.head.bias.grad[:, None]], dim=1)
    return head.flatten().numpy(), inputs.grad[0].numpy()


def test_gradients_match_autograd_per_sample():
    model = Split()
    out = compute_outputs(model, IQ, LABELS, ALL_FORWARD, ids=IDS)
    assert out.last_layer_grad.shape == (6, 3 * (5 + 1))
    for index in range(6):
        head, inputs = _per_sample_autograd(model, index)
        np.testing.assert_allclose(out.last_layer_grad[index], head, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out.input_grad[index], inputs, rtol=1e-5, atol=1e-6)


def test_gradients_do_not_depend_on_the_batch():
    model = Split()
    whole = compute_outputs(model, IQ, LABELS, Needs.LAST_LAYER_GRAD | Needs.INPUT_GRAD)
    part = compute_outputs(model, IQ[4:], LABELS[4:], Needs.LAST_LAYER_GRAD | Needs.INPUT_GRAD)
    np.testing.assert_allclose(part.last_layer_grad, whole.last_layer_grad[4:], rtol=1e-6)
    np.testing.assert_allclose(part.input_grad, whole.input_grad[4:], rtol=1e-6)


def test_last_layer_gradient_closed_form_layout():
    # row i = (p_i - onehot(y_i)) outer [e_i, 1], flattened class by class
    model = Split()
    out = compute_outputs(model, IQ, LABELS, Needs.PROBS | Needs.EMBEDDING | Needs.LAST_LAYER_GRAD)
    residual = out.probs - np.eye(3)[LABELS]
    with_bias = np.hstack([out.embedding, np.ones((6, 1))])
    expected = (residual[:, :, None] * with_bias[:, None, :]).reshape(6, -1)
    np.testing.assert_allclose(out.last_layer_grad, expected, rtol=1e-5, atol=1e-6)


def test_one_forward_pass_for_every_need_and_none_when_not_needed():
    model = Split()
    compute_outputs(model, IQ, LABELS, ALL_FORWARD)
    assert model.forward_calls == 1
    compute_outputs(model, IQ, LABELS, Needs.NONE | Needs.IQ | Needs.LOGITS_FN)
    assert model.forward_calls == 1


def test_values_and_only_the_requested_fields():
    model = Split()
    out = compute_outputs(model, IQ, LABELS, Needs.LOGITS | Needs.PROBS, ids=IDS)
    assert out.provides() == Needs.LOGITS | Needs.PROBS
    np.testing.assert_array_equal(out.ids, IDS)
    np.testing.assert_array_equal(out.labels, LABELS)
    with torch.no_grad():
        expected = model.eval()(torch.as_tensor(IQ)).numpy()
    np.testing.assert_allclose(out.logits, expected, rtol=1e-6)
    assert out.probs.dtype == np.float64
    np.testing.assert_allclose(out.probs, torch.softmax(torch.tensor(expected).double(), 1))
    for absent in ("embedding", "last_layer_grad", "input_grad", "iq", "logits_fn"):
        with pytest.raises(AttributeError, match=absent):
            getattr(out, absent)


def test_eval_mode_is_used_and_the_mode_restored():
    model = Split().train()
    first = compute_outputs(model, IQ, LABELS, Needs.LOGITS).logits
    second = compute_outputs(model, IQ, LABELS, Needs.LOGITS).logits
    np.testing.assert_array_equal(first, second)  # dropout off
    assert model.training


def test_logits_fn_is_eval_mode_and_differentiable():
    model = Split().train()
    out = compute_outputs(model, IQ, LABELS, Needs.IQ | Needs.LOGITS_FN)
    np.testing.assert_array_equal(out.iq, IQ)
    inputs = torch.as_tensor(IQ).requires_grad_(True)
    logits = out.logits_fn(inputs)
    assert model.training and logits.requires_grad
    np.testing.assert_allclose(
        logits.detach().numpy(), compute_outputs(model, IQ, LABELS, Needs.LOGITS).logits, rtol=1e-6
    )
    assert isinstance(out.logits_fn, EvalLogits) and out.logits_fn.device == torch.device("cpu")


def test_a_model_without_the_split_names_the_scorer_that_needed_it():
    plain = nn.Sequential(nn.Flatten(), nn.Linear(8, 3))
    assert Needs.EMBEDDING not in model_provides(plain)
    assert Needs.LOGITS in model_provides(plain)
    with pytest.raises(TypeError, match=r"scorer 'herding' needs \['embedding'\].*Sequential"):
        compute_outputs(plain, IQ, LABELS, Needs.EMBEDDING, scorer="herding")
    with pytest.raises(TypeError, match=r"scorer 'grand' needs \['last_layer_grad'\]"):
        check_model_provides(plain, Needs.LAST_LAYER_GRAD | Needs.PROBS, "grand")
    with pytest.raises(TypeError, match="'grand'"):
        score_batch(get_scorer("grand"), plain, IQ, LABELS)
    out = compute_outputs(plain, IQ, LABELS, Needs.PROBS | Needs.INPUT_GRAD)
    assert out.probs.shape == (6, 3) and out.input_grad.shape == IQ.shape


def test_score_batch_scores_a_batch():
    model = Split()
    scores = score_batch(get_scorer("least_confidence"), model, IQ, LABELS, ids=IDS)
    probs = compute_outputs(model, IQ, LABELS, Needs.PROBS).probs
    np.testing.assert_allclose(scores, 1 - probs.max(axis=1))


def test_bad_inputs_name_the_scorer():
    with pytest.raises(ValueError, match=r"'grand'.*labels must lie in \[0, 3\)"):
        compute_outputs(Split(), IQ, LABELS + 1, Needs.LAST_LAYER_GRAD, scorer="grand")
    # A scorer that reads no labels scores frames whose labels the model does not know.
    outputs = compute_outputs(Split(), IQ, LABELS + 1, Needs.PROBS, scorer="margin")
    assert outputs.probs.shape == (len(IQ), 3)
    with pytest.raises(ValueError, match=r"'margin'.*expected iq"):
        compute_outputs(Split(), IQ, LABELS[:3], Needs.PROBS, scorer="margin")
