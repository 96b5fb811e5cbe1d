"""The scorer plugin API and the built-in scorers (DUSE and the coreset baselines).

A scorer declares what it needs from the model (:class:`Needs`), receives those quantities per
batch (:class:`ModelOutputs`) and returns one float per sample, **higher = select first**.
Three kinds share one registry: :class:`PointwiseScorer`, :class:`DynamicsScorer` and
:class:`SetSelector`. Register with ``@register("name")`` or the ``duse.scorers`` entry-point
group; look up with :func:`get_scorer` and :func:`available`. Selection (top-k, class quotas)
lives in ``engine.selection``; the engine calls scorers through the ``checked_*`` functions,
which validate every output. See docs/plugins.md.

Built-ins: ``duse``, ``least_confidence``, ``entropy``, ``margin`` (uncertainty), ``deepfool``,
``grand`` (gradient), ``random`` (pointwise); ``forgetting`` (dynamics); ``herding``,
``glister`` (set selectors).
"""

from scorers import deepfool, dynamics, gradient, random, set_selection, uncertainty  # noqa: F401
from scorers._internal.checks import (
    checked_dynamics_score,
    checked_observe,
    checked_score,
    checked_select,
)
from scorers._internal.registry import (
    ScorerInfo,
    available,
    get_scorer,
    register,
    scorer_class,
)
from scorers.base import (
    DynamicsScorer,
    ModelOutputs,
    Needs,
    PointwiseScorer,
    Scorer,
    SetSelector,
    average_repeats,
)

__all__ = [
    "DynamicsScorer",
    "ModelOutputs",
    "Needs",
    "PointwiseScorer",
    "Scorer",
    "ScorerInfo",
    "SetSelector",
    "available",
    "average_repeats",
    "checked_dynamics_score",
    "checked_observe",
    "checked_score",
    "checked_select",
    "get_scorer",
    "register",
    "scorer_class",
]
