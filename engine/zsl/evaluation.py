"""Zero-shot metrics (seed §3.1, Eq. 8) and the no-GAN baseline (nearest semantic prototype).

Accuracies follow the GBU protocol (Xian et al.) the seed's Table 5 matches: per-class top-1
accuracy, averaged over the seen classes (S) and over the unseen classes (U), with the argmax
taken over **all** classes (generalised zero-shot).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["harmonic_mean", "prototype_baseline", "zsl_metrics"]


def harmonic_mean(seen_accuracy: float, unseen_accuracy: float) -> float:
    """H = 2SU / (S + U) (seed Eq. 8); 0 when both are 0."""
    total = seen_accuracy + unseen_accuracy
    return 0.0 if total == 0 else 2 * seen_accuracy * unseen_accuracy / total


def _per_class_accuracy(truth: np.ndarray, predicted: np.ndarray, labels: list[int]) -> list[float]:
    return [float((predicted[truth == c] == c).mean()) for c in labels if (truth == c).any()]


def _confusion(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> list[list[int]]:
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    return confusion.tolist()


def zsl_metrics(
    truth: np.ndarray,
    predicted: np.ndarray,
    snr_db: np.ndarray,
    seen: list[int],
    unseen: list[int],
    classes: list[str],
    confusion_snr_db: float | None = None,
) -> dict[str, Any]:
    """S, U, H, overall accuracy, per SNR and per class, confusion matrices.

    Args:
        truth: true labels ``[n]`` (indices into ``classes``).
        predicted: predicted labels ``[n]`` (argmax over all classes).
        snr_db: SNR of each frame ``[n]`` (dB).
        seen: seen label indices.
        unseen: unseen label indices.
        classes: class names in label order.
        confusion_snr_db: also give the confusion matrix at this SNR (Fig. 6).

    Returns:
        JSON-ready dict: ``seen_accuracy`` (S), ``unseen_accuracy`` (U), ``harmonic_mean`` (H),
        ``accuracy`` (over all frames), ``per_class``, ``per_snr`` (``{snr: {accuracy, S, U,
        H}}``), ``confusion`` (rows = true, columns = predicted) and ``confusion_at_snr``.
    """
    truth, predicted = np.asarray(truth, np.int64), np.asarray(predicted, np.int64)
    snr_db = np.asarray(snr_db, np.float64)

    def summary(mask: np.ndarray) -> dict[str, float]:
        seen_acc = float(np.mean(_per_class_accuracy(truth[mask], predicted[mask], seen) or [0.0]))
        unseen_acc = float(
            np.mean(_per_class_accuracy(truth[mask], predicted[mask], unseen) or [0.0])
        )
        return {
            "accuracy": float((truth[mask] == predicted[mask]).mean()),
            "seen_accuracy": seen_acc,
            "unseen_accuracy": unseen_acc,
            "harmonic_mean": harmonic_mean(seen_acc, unseen_acc),
        }

    result = summary(np.ones(len(truth), bool))
    result["per_class"] = {
        classes[c]: float((predicted[truth == c] == c).mean())
        for c in range(len(classes))
        if (truth == c).any()
    }
    result["per_snr"] = {f"{s:g}": summary(snr_db == s) for s in np.unique(snr_db)}
    result["confusion"] = _confusion(truth, predicted, len(classes))
    if confusion_snr_db is not None and (snr_db == confusion_snr_db).any():
        mask = snr_db == confusion_snr_db
        result["confusion_at_snr"] = {
            "snr_db": confusion_snr_db,
            "matrix": _confusion(truth[mask], predicted[mask], len(classes)),
        }
    result["n"] = len(truth)
    return result


def prototype_baseline(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    semantics: np.ndarray,
    test_features: np.ndarray,
    ridge: float = 1.0,
) -> np.ndarray:
    """No-GAN baseline: regress features onto semantic vectors, predict the nearest prototype.

    A ridge regression W maps standardised seen-class features to their class's semantic
    vector; a test feature is assigned to the class (seen or unseen) whose semantic vector has
    the largest cosine similarity with its projection (DAP/ESZSL-style compatibility).

    Args:
        train_features: real seen-class features ``[n, d]``.
        train_labels: rows of ``semantics`` ``[n]``.
        semantics: semantic vectors of all classes ``[c, s]``.
        test_features: features to classify ``[m, d]``.
        ridge: L2 penalty of the regression.

    Returns:
        Predicted rows of ``semantics`` ``[m]`` int64.
    """
    mean = train_features.mean(0)
    scale = train_features.std(0) + 1e-6
    x = (train_features - mean) / scale
    targets = semantics[np.asarray(train_labels, np.int64)]
    weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ targets)
    projected = ((test_features - mean) / scale) @ weights
    projected /= np.linalg.norm(projected, axis=1, keepdims=True).clip(1e-12)
    prototypes = semantics / np.linalg.norm(semantics, axis=1, keepdims=True).clip(1e-12)
    return (projected @ prototypes.T).argmax(1).astype(np.int64)
