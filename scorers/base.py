"""The scorer types: what a scorer declares (:class:`Needs`), what it receives
(:class:`ModelOutputs`) and the three kinds it can be.

One convention everywhere: a score is one float per sample and **higher = select first**. A
scorer whose natural value is "smaller is more informative" negates it. Scorers never sort, slice
or take top-k; ``engine.selection`` does that, once, for every scorer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import ClassVar, Literal

import numpy as np
import torch

__all__ = [
    "OBSERVED_SETS",
    "DynamicsScorer",
    "ModelOutputs",
    "Needs",
    "Observe",
    "PointwiseScorer",
    "Scorer",
    "ScorerKind",
    "SetSelector",
    "average_repeats",
]

ScorerKind = Literal["pointwise", "dynamics", "set"]
Observe = Literal["target", "pool"]
OBSERVED_SETS = ("target", "pool")


class Needs(enum.Flag):
    """What a scorer needs from the model per batch; combine with ``|``.

    The engine computes each requested quantity once per batch (``engine.model_outputs``) and
    nothing else. ``ids`` and ``labels`` are always provided.

    Members:
        NONE: nothing from the model (e.g. ``random``).
        LOGITS: logits ``[n, C]`` float32.
        PROBS: softmax probabilities ``[n, C]`` float64 (computed from the logits in float64).
        EMBEDDING: penultimate embedding ``[n, d]`` float32 (the model's ``features`` output).
        LAST_LAYER_GRAD: per-sample cross-entropy gradient of the last layer ``[n, C*(d+1)]``
            float32, from per-sample losses (no batch-mean scaling).
        INPUT_GRAD: per-sample cross-entropy gradient with respect to the input ``[n, 2, L]``.
        IQ: the input frames ``[n, 2, L]`` float32 themselves.
        LOGITS_FN: a callable ``tensor [m, 2, L] -> logits [m, C]`` (eval mode, differentiable),
            for scorers that evaluate the model repeatedly (DeepFool).
    """

    NONE = 0
    LOGITS = enum.auto()
    PROBS = enum.auto()
    EMBEDDING = enum.auto()
    LAST_LAYER_GRAD = enum.auto()
    INPUT_GRAD = enum.auto()
    IQ = enum.auto()
    LOGITS_FN = enum.auto()

    def names(self) -> list[str]:
        """Lower-case names of the members set, in declaration order (``[]`` for ``NONE``)."""
        return [member.name.lower() for member in Needs if member.value and member in self]


# Field of ModelOutputs holding each need.
_FIELDS = {
    Needs.LOGITS: "logits",
    Needs.PROBS: "probs",
    Needs.EMBEDDING: "embedding",
    Needs.LAST_LAYER_GRAD: "last_layer_grad",
    Needs.INPUT_GRAD: "input_grad",
    Needs.IQ: "iq",
    Needs.LOGITS_FN: "logits_fn",
}
_ARRAY_FIELDS = ("logits", "probs", "embedding", "last_layer_grad", "input_grad", "iq")


class ModelOutputs:
    """What the engine computed for one batch (or a whole pool): ids, labels and the needs.

    Only the quantities some scorer declared are present; reading an absent one raises
    ``AttributeError`` saying which :class:`Needs` member provides it.

    Attributes:
        ids: global sample ids ``[n]`` int64 (stable, unique).
        labels: class labels ``[n]`` int64.
        logits: ``[n, C]`` float32 (``Needs.LOGITS``).
        probs: ``[n, C]`` float64 softmax (``Needs.PROBS``).
        embedding: ``[n, d]`` float32 (``Needs.EMBEDDING``).
        last_layer_grad: ``[n, C*(d+1)]`` float32 (``Needs.LAST_LAYER_GRAD``); row ``i`` is
            ``(probs_i - onehot(label_i)) outer [embedding_i, 1]`` flattened, i.e. class ``c``'s
            ``d`` weight gradients then its bias gradient.
        input_grad: ``[n, 2, L]`` float32 (``Needs.INPUT_GRAD``).
        iq: ``[n, 2, L]`` float32 (``Needs.IQ``).
        logits_fn: callable ``torch.Tensor [m, 2, L] -> torch.Tensor [m, C]`` (``Needs.LOGITS_FN``).
    """

    __slots__ = ("_logits_fn", "ids", "labels", *(f"_{name}" for name in _ARRAY_FIELDS))

    def __init__(
        self,
        ids: np.ndarray,
        labels: np.ndarray,
        *,
        logits: np.ndarray | None = None,
        probs: np.ndarray | None = None,
        embedding: np.ndarray | None = None,
        last_layer_grad: np.ndarray | None = None,
        input_grad: np.ndarray | None = None,
        iq: np.ndarray | None = None,
        logits_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.ids.ndim != 1 or self.labels.shape != self.ids.shape:
            raise ValueError(
                f"ids and labels must both have shape [n]; got {self.ids.shape} and "
                f"{self.labels.shape}"
            )
        arrays = {
            "logits": logits,
            "probs": probs,
            "embedding": embedding,
            "last_layer_grad": last_layer_grad,
            "input_grad": input_grad,
            "iq": iq,
        }
        for name, value in arrays.items():
            if value is not None:
                value = np.asarray(value)
                if value.ndim < 2 or value.shape[0] != len(self.ids):
                    raise ValueError(
                        f"{name} must have shape [n, ...] with n={len(self.ids)}; got {value.shape}"
                    )
            setattr(self, f"_{name}", value)
        self._logits_fn = logits_fn

    def __len__(self) -> int:
        return len(self.ids)

    def _get(self, name: str):
        value = getattr(self, f"_{name}")
        if value is None:
            need = next(member for member, field in _FIELDS.items() if field == name)
            raise AttributeError(
                f"ModelOutputs has no {name!r}: the scorer must declare Needs.{need.name}"
            )
        return value

    logits = property(lambda self: self._get("logits"), doc="Logits ``[n, C]``.")
    probs = property(lambda self: self._get("probs"), doc="Softmax ``[n, C]`` float64.")
    embedding = property(lambda self: self._get("embedding"), doc="Embedding ``[n, d]``.")
    last_layer_grad = property(
        lambda self: self._get("last_layer_grad"), doc="Last-layer gradients ``[n, C*(d+1)]``."
    )
    input_grad = property(lambda self: self._get("input_grad"), doc="Input gradients.")
    iq = property(lambda self: self._get("iq"), doc="Input frames ``[n, 2, L]``.")
    logits_fn = property(lambda self: self._get("logits_fn"), doc="Differentiable logits.")

    def provides(self) -> Needs:
        """The :class:`Needs` members whose quantity is present."""
        present = Needs.NONE
        for member, name in _FIELDS.items():
            if getattr(self, f"_{name}") is not None:
                present |= member
        return present

    def subset(self, positions: np.ndarray) -> ModelOutputs:
        """The rows at ``positions`` (indices or a boolean mask), ``logits_fn`` kept."""
        arrays = {name: getattr(self, f"_{name}") for name in _ARRAY_FIELDS}
        return ModelOutputs(
            self.ids[positions],
            self.labels[positions],
            logits_fn=self._logits_fn,
            **{name: None if value is None else value[positions] for name, value in arrays.items()},
        )

    @classmethod
    def concat(cls, parts: Sequence[ModelOutputs]) -> ModelOutputs:
        """Rows of several batches stacked in order; all parts must provide the same needs.

        ``logits_fn`` is taken from the first part.

        Raises:
            ValueError: no parts, or parts that provide different needs.
        """
        if not parts:
            raise ValueError("ModelOutputs.concat needs at least one part")
        provided = {part.provides() for part in parts}
        if len(provided) != 1:
            raise ValueError(f"cannot concatenate outputs providing different needs: {provided}")
        arrays = {}
        for name in _ARRAY_FIELDS:
            values = [getattr(part, f"_{name}") for part in parts]
            arrays[name] = None if values[0] is None else np.concatenate(values)
        return cls(
            np.concatenate([part.ids for part in parts]),
            np.concatenate([part.labels for part in parts]),
            logits_fn=parts[0]._logits_fn,
            **arrays,
        )


class Scorer:
    """Common base of the three kinds. Subclass one of them, never this one.

    Class attributes a scorer sets:
        needs: the :class:`Needs` it reads.
        repeats: how many independently seeded models the engine trains and scores with; the
            scores are averaged with :func:`average_repeats` (1: the engine's usual model).
        warmup_epochs: epochs each repeat model is trained for (``None``: the engine's usual
            training). Only read when ``repeats`` or ``warmup_epochs`` asks for fresh models.
        observed_set: the set the selection model trains on: ``"target"`` (the engine's usual
            round model, trained on the target set) or ``"pool"`` (trained on the remaining
            pool, the set selected from, as DeepCore trains on the set it selects a coreset
            of). Scorers that offer both take it as their ``observe`` parameter
            (:meth:`_set_observe`).

    ``name`` is set by the registry when the class is registered.
    """

    name: ClassVar[str] = "<unregistered>"
    kind: ClassVar[ScorerKind]
    needs: ClassVar[Needs] = Needs.NONE
    repeats: int = 1
    warmup_epochs: int | None = None
    observed_set: Observe = "target"

    def _invalid(self, message: str) -> ValueError:
        """A ``ValueError`` whose message names this scorer."""
        return ValueError(f"scorer {self.name!r}: {message}")

    def _set_observe(self, observe: object) -> None:
        if observe not in OBSERVED_SETS:
            raise self._invalid(f"observe must be 'target' or 'pool', got {observe!r}")
        self.observed_set = observe


class PointwiseScorer(Scorer):
    """A score per sample from that sample and the model only; run batch by batch, in parallel."""

    kind: ClassVar[ScorerKind] = "pointwise"

    def score(self, outputs: ModelOutputs) -> np.ndarray:
        """Scores ``[n]`` float for the batch, higher = select first.

        Args:
            outputs: the batch's ids, labels and declared needs.
        """
        raise NotImplementedError


class DynamicsScorer(Scorer):
    """A score from observations made while a model trains (an epoch hook plus a reduction).

    The engine calls :meth:`observe` after each training epoch with the pool's outputs (one or
    more batches per epoch, epochs non-decreasing), then :meth:`score` once.
    """

    kind: ClassVar[ScorerKind] = "dynamics"

    def observe(self, epoch: int, outputs: ModelOutputs) -> None:
        """Record the model's outputs on (part of) the pool after training epoch ``epoch``."""
        raise NotImplementedError

    def score(self, ids: np.ndarray) -> np.ndarray:
        """Scores ``[n]`` float for ``ids`` (all observed), higher = select first."""
        raise NotImplementedError


class SetSelector(Scorer):
    """A greedy selector that needs the whole pool's features at once.

    The engine gathers the pool's declared needs (and, for selectors that use it, the target
    set's) and calls :meth:`select`; in class-balanced mode it calls it once per class with that
    class's quota and that class's rows of the pool and of the target.
    """

    kind: ClassVar[ScorerKind] = "set"

    def select(
        self,
        features: ModelOutputs,
        k: int,
        rng: np.random.Generator,
        *,
        target: ModelOutputs | None = None,
    ) -> np.ndarray:
        """``k`` distinct ids of ``features.ids`` in selection order.

        Args:
            features: the pool's ids, labels and declared needs.
            k: how many to select (``1 <= k <= len(features)``, checked by the engine).
            rng: breaks ties.
            target: the target set's outputs (same needs), or ``None``.
        """
        raise NotImplementedError


def average_repeats(score_lists: Sequence[np.ndarray]) -> np.ndarray:
    """Per-sample mean of scores from independent repeats (GraNd's rule, Paul et al. 2021).

    Each array holds one repeat's scores for the same ids in the same order.

    Args:
        score_lists: ``R >= 1`` arrays of shape ``[n]``.

    Returns:
        ``[n]`` float64, the mean over the repeats.

    Raises:
        ValueError: no repeats, or arrays of different shapes.
    """
    if len(score_lists) == 0:
        raise ValueError("average_repeats needs at least one repeat")
    arrays = [np.asarray(scores, dtype=np.float64) for scores in score_lists]
    shapes = {array.shape for array in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 1:
        raise ValueError(f"every repeat must have the same shape [n]; got {sorted(shapes)}")
    return np.mean(np.stack(arrays), axis=0)
