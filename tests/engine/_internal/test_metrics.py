import numpy as np

from engine._internal.metrics import confusion_matrix


def test_confusion_counts_true_rows_against_predicted_columns():
    confusion = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 4)
    assert confusion.dtype == np.int64
    assert confusion.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
