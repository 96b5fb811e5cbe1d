"""GraNd (Paul et al. 2021, "Deep Learning on a Data Diet"): expected gradient norm.

Per repeat, the score is the L2 norm of the sample's own cross-entropy gradient of the last
layer, ``||g_i|| = ||p_i - y_i|| * sqrt(1 + ||e_i||^2)``, computed by the engine from per-sample
losses (DeepCore's mean-reduced batches scale the last batch wrongly, reference/baselines.md
§1.6). The paper's expectation over initialisations is the mean over ``repeats`` independently
seeded models trained for ``warmup_epochs`` (:func:`scorers.base.average_repeats`).
"""

from __future__ import annotations

import numpy as np

from scorers._internal.registry import register
from scorers.base import ModelOutputs, Needs, Observe, PointwiseScorer

__all__ = ["GraNd", "gradient_norm"]


def gradient_norm(gradients: np.ndarray) -> np.ndarray:
    """Row-wise L2 norm of per-sample gradients ``[n, P]``; ``[n]`` float64."""
    return np.linalg.norm(np.asarray(gradients, dtype=np.float64), axis=1)


@register("grand")
class GraNd(PointwiseScorer):
    """GraNd: last-layer gradient norm, averaged over early-training repeats; largest first.

    Args:
        repeats: independently seeded models the engine trains and scores with (Data Diet and
            DeepCore use 10).
        warmup_epochs: epochs each of them is trained before scoring ("early in training").
        observe: the set those models train on, ``"target"`` or ``"pool"`` (the set scored,
            as Data Diet and DeepCore do).
    """

    needs = Needs.LAST_LAYER_GRAD

    def __init__(
        self, *, repeats: int = 10, warmup_epochs: int = 10, observe: Observe = "target"
    ) -> None:
        if not isinstance(repeats, int) or repeats < 1:
            raise self._invalid(f"repeats must be an integer >= 1, got {repeats!r}")
        if not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise self._invalid(f"warmup_epochs must be an integer >= 0, got {warmup_epochs!r}")
        self.repeats = repeats
        self.warmup_epochs = warmup_epochs
        self._set_observe(observe)

    def score(self, outputs: ModelOutputs) -> np.ndarray:
        return gradient_norm(outputs.last_layer_grad)
