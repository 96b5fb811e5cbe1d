"""An example duse scorer plugin: no decorator, registered by the ``duse.scorers`` entry point.

``pyproject.toml`` declares::

    [project.entry-points."duse.scorers"]
    max_logit = "duse_plugin_example:MaxLogit"

and duse finds it once the package is installed (``pip install -e .``).
"""

from __future__ import annotations

import numpy as np

from scorers import ModelOutputs, Needs, PointwiseScorer

__all__ = ["MaxLogit", "max_logit"]


def max_logit(logits: np.ndarray) -> np.ndarray:
    """The largest raw logit per row of ``[n, C]`` logits; ``[n]`` float64."""
    return np.max(np.asarray(logits, dtype=np.float64), axis=1)


class MaxLogit(PointwiseScorer):
    """Max logit: the sample with the smallest top logit first (score = -max logit)."""

    needs = Needs.LOGITS

    def score(self, outputs: ModelOutputs) -> np.ndarray:
        return -max_logit(outputs.logits)
