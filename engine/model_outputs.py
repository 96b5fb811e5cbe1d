"""Compute what scorers need from a model, once per batch and only what was asked for.

:func:`compute_outputs` runs at most one forward pass (with input gradients enabled only when
``Needs.INPUT_GRAD`` is asked for) and derives probabilities and per-sample last-layer gradients
from it in closed form. Scorers never call the model; DeepFool, which must evaluate it
repeatedly, gets an engine-made :class:`EvalLogits` callable instead.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional

import models
from engine.inference import PreparedForward
from scorers import ModelOutputs, Needs, PointwiseScorer, checked_score

__all__ = [
    "EvalLogits",
    "check_model_provides",
    "compute_outputs",
    "model_provides",
    "score_batch",
]

# Needs that read the model's `features` / `head` split.
_SPLIT_NEEDS = Needs.EMBEDDING | Needs.LAST_LAYER_GRAD
_FORWARD_NEEDS = Needs.LOGITS | Needs.PROBS | _SPLIT_NEEDS | Needs.INPUT_GRAD


class EvalLogits:
    """``tensor [m, 2, L] -> logits [m, C]`` of a model in eval mode, differentiable in the input.

    The model's train/eval mode is restored after each call. Inputs are moved to ``device``.

    Attributes:
        model: the wrapped model.
        device: where inputs go (scorers may create their tensors there).
    """

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu") -> None:
        self.model = model
        self.device = torch.device(device)

    def __call__(self, iq: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model(iq.to(self.device))
        finally:
            self.model.train(was_training)


def model_provides(model: nn.Module) -> Needs:
    """Every :class:`Needs` member ``model`` can provide.

    Embeddings and last-layer gradients need the ``features`` / single linear ``head`` split of
    ``models.AmrClassifier``; everything else only needs ``model(iq) -> logits``.
    """
    everything = Needs.NONE
    for member in Needs:
        everything |= member
    try:
        models.last_layer(model)
    except TypeError:
        return everything & ~_SPLIT_NEEDS
    return everything


def check_model_provides(model: nn.Module, needs: Needs, scorer: str) -> None:
    """Fail early, naming ``scorer``, when ``model`` cannot provide ``needs``.

    Raises:
        TypeError: e.g. an embedding or last-layer gradient was asked of a model without
            ``features`` and a single ``nn.Linear`` ``head``.
    """
    missing = needs & ~model_provides(model)
    if missing:
        raise TypeError(
            f"scorer {scorer!r} needs {missing.names()}, which {type(model).__name__} cannot "
            "provide: it has no `features` module and single nn.Linear `head` "
            "(build models with models.build)"
        )


def compute_outputs(
    model: nn.Module,
    iq: np.ndarray,
    labels: np.ndarray,
    needs: Needs,
    *,
    ids: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    scorer: str = "<unnamed>",
    prepared: PreparedForward | None = None,
) -> ModelOutputs:
    """The quantities in ``needs`` for one batch, from at most one forward pass in eval mode.

    Per-sample last-layer gradients of the cross-entropy loss are computed in closed form,
    ``g_i = (softmax(z_i) - onehot(y_i)) outer [e_i, 1]``, i.e. from per-sample losses with no
    batch-mean scaling. Input gradients are autograd's gradient of the *sum* of per-sample
    losses, which is per-sample since samples do not interact in eval mode. The model's
    train/eval mode is restored afterwards; the model must already be on ``device``.

    Args:
        model: a classifier ``[n, 2, L] -> [n, C]``.
        iq: frames ``[n, 2, L]`` float32.
        labels: ``[n]`` class labels (used for the gradients; returned as given).
        needs: what to compute.
        ids: ``[n]`` global ids (default ``0..n-1``).
        device: where to run.
        scorer: the scorer asking, named in errors.
        prepared: ``model``'s forward prepared for inference (:mod:`engine.inference`), used
            for passes without input gradients; ``None`` runs the module eager.

    Returns:
        ModelOutputs holding ``ids``, ``labels`` and exactly the quantities in ``needs``.

    Raises:
        TypeError: the model cannot provide a need (see :func:`check_model_provides`).
        ValueError: ``iq`` and ``labels`` disagree on ``n``, or labels out of range.
    """
    check_model_provides(model, needs, scorer)
    iq = np.asarray(iq, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    ids = np.arange(len(iq), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
    if iq.ndim != 3 or labels.shape != (len(iq),) or ids.shape != (len(iq),):
        raise ValueError(
            f"scorer {scorer!r}: expected iq [n, 2, L] with labels and ids [n]; got "
            f"{iq.shape}, {labels.shape}, {ids.shape}"
        )
    fields: dict[str, object] = {}
    if needs & Needs.IQ:
        fields["iq"] = iq
    if needs & Needs.LOGITS_FN:
        fields["logits_fn"] = EvalLogits(model, device)
    if needs & _FORWARD_NEEDS:
        fields.update(_forward(model, iq, labels, needs, device, scorer, prepared))
    return ModelOutputs(ids, labels, **fields)


def _forward(
    model: nn.Module,
    iq: np.ndarray,
    labels: np.ndarray,
    needs: Needs,
    device,
    scorer: str,
    prepared: PreparedForward | None = None,
) -> dict[str, np.ndarray]:
    """One forward pass and what derives from it."""
    was_training = model.training
    model.eval()
    split = bool(needs & _SPLIT_NEEDS)  # check_model_provides: the model has the split then
    if needs & Needs.INPUT_GRAD:
        prepared = None
    try:
        with torch.set_grad_enabled(bool(needs & Needs.INPUT_GRAD)):
            inputs = torch.as_tensor(iq, device=device)
            if needs & Needs.INPUT_GRAD:
                inputs.requires_grad_(True)
            if prepared is not None and split:
                embedding, logits = prepared.embedding_and_logits(inputs)
            elif prepared is not None:
                embedding, logits = None, prepared.logits(inputs)
            elif split:
                embedding, logits = models.embedding_and_logits(model, inputs)
            else:
                embedding, logits = None, model(inputs)
            num_classes = logits.shape[1]
            uses_labels = bool(needs & (Needs.LAST_LAYER_GRAD | Needs.INPUT_GRAD))
            out_of_range = labels.size and (labels.min() < 0 or labels.max() >= num_classes)
            if uses_labels and out_of_range:
                raise ValueError(
                    f"scorer {scorer!r}: labels must lie in [0, {num_classes}), got "
                    f"[{labels.min()}, {labels.max()}]"
                )
            target = torch.as_tensor(labels, device=logits.device)
            input_grad = None
            if needs & Needs.INPUT_GRAD:
                loss = functional.cross_entropy(logits, target, reduction="sum")
                (input_grad,) = torch.autograd.grad(loss, inputs)
    finally:
        model.train(was_training)
    logits = logits.detach()
    probs = torch.softmax(logits.double(), dim=1)
    out: dict[str, np.ndarray] = {}
    if needs & Needs.LOGITS:
        out["logits"] = logits.float().cpu().numpy()
    if needs & Needs.PROBS:
        out["probs"] = probs.cpu().numpy()
    if needs & Needs.EMBEDDING:
        out["embedding"] = embedding.detach().float().cpu().numpy()
    if needs & Needs.LAST_LAYER_GRAD:
        residual = (probs - functional.one_hot(target, num_classes).double()).float()
        features = embedding.detach().float()
        inputs_with_bias = torch.cat([features, features.new_ones(len(features), 1)], dim=1)
        gradient = residual.unsqueeze(2) * inputs_with_bias.unsqueeze(1)  # [n, C, d+1]
        out["last_layer_grad"] = gradient.flatten(1).cpu().numpy()
    if input_grad is not None:
        out["input_grad"] = input_grad.detach().float().cpu().numpy()
    return out


def score_batch(
    scorer: PointwiseScorer,
    model: nn.Module,
    iq: np.ndarray,
    labels: np.ndarray,
    *,
    ids: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    prepared: PreparedForward | None = None,
) -> np.ndarray:
    """Scores ``[n]`` float64 of one batch: :func:`compute_outputs` for the scorer's needs, then
    the scorer, validated (shape, finite) by ``scorers.checked_score``."""
    outputs = compute_outputs(
        model,
        iq,
        labels,
        scorer.needs,
        ids=ids,
        device=device,
        scorer=scorer.name,
        prepared=prepared,
    )
    return checked_score(scorer, outputs)
