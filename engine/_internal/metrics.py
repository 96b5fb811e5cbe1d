"""Classification metrics shared by the classifier's and the ZSL pipeline's evaluations."""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix"]


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Args:
        truth: true labels ``[n]``, integers in ``[0, num_classes)``.
        predicted: predicted labels ``[n]``, integers in ``[0, num_classes)``.
        num_classes: C.

    Returns:
        ``[C, C]`` int64: rows are the true class, columns the predicted class.
    """
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
    return confusion
