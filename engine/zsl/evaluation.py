"""Zero-shot metrics (seed §3.1, Eq. 8) and the two no-GAN baselines (nearest semantic
prototype; ESZSL's bilinear compatibility).

Accuracies follow the GBU protocol (Xian et al.) the seed's Table 5 matches: per-class top-1
accuracy, averaged over the seen classes (S) and over the unseen classes (U), with the argmax
taken over **all** classes (generalised zero-shot).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine._internal.metrics import confusion_matrix

__all__ = [
    "best_gamma",
    "compatibility_scores",
    "harmonic_mean",
    "prototype_baseline",
    "seen_unseen_curve",
    "zsl_metrics",
]


def harmonic_mean(seen_accuracy: float, unseen_accuracy: float) -> float:
    """H = 2SU / (S + U) (seed Eq. 8); 0 when both are 0."""
    total = seen_accuracy + unseen_accuracy
    return 0.0 if total == 0 else 2 * seen_accuracy * unseen_accuracy / total


def _per_class_accuracy(truth: np.ndarray, predicted: np.ndarray, labels: list[int]) -> list[float]:
    return [float((predicted[truth == c] == c).mean()) for c in labels if (truth == c).any()]


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
    result["confusion"] = confusion_matrix(truth, predicted, len(classes)).tolist()
    if confusion_snr_db is not None and (snr_db == confusion_snr_db).any():
        mask = snr_db == confusion_snr_db
        result["confusion_at_snr"] = {
            "snr_db": confusion_snr_db,
            "matrix": confusion_matrix(truth[mask], predicted[mask], len(classes)).tolist(),
        }
    result["n"] = len(truth)
    return result


def seen_unseen_curve(
    logits: np.ndarray, truth: np.ndarray, seen: list[int], unseen: list[int], points: int = 101
) -> dict[str, Any]:
    """S and U as calibrated stacking's gamma sweeps from "all seen" to "all unseen".

    The seen-unseen accuracy curve and its area (AUSUC) of Chao et al. (ECCV 2016): gamma is
    subtracted from the seen-class logits, so it trades seen for unseen accuracy; the area says
    whether the unseen-class scores carry information at all, whatever the seen-class bias.
    The gammas are quantiles of the per-frame gap between the best seen and the best unseen
    logit, so the curve runs from U = 0 to S = 0. On test frames it is descriptive; on the
    validation task (``calibration: validation``) its best-H gamma is what the test run uses
    (:func:`best_gamma`).

    Args:
        logits: classifier scores over all classes ``[n, c]``.
        truth: true labels ``[n]``.
        seen: seen label indices; unseen: unseen label indices.
        points: gammas on the curve.

    Returns:
        ``{"gamma": [...], "seen_accuracy": [...], "unseen_accuracy": [...], "ausuc": float}``.
    """
    truth = np.asarray(truth, np.int64)
    seen_arr, unseen_arr = np.asarray(seen), np.asarray(unseen)
    best_seen = seen_arr[logits[:, seen_arr].argmax(1)]
    best_unseen = unseen_arr[logits[:, unseen_arr].argmax(1)]
    gap = logits[:, seen_arr].max(1) - logits[:, unseen_arr].max(1)
    inner = np.quantile(gap, np.linspace(0, 1, points)[1:-1]) if points > 2 else []
    gammas = np.concatenate([[gap.min() - 1.0], inner, [gap.max() + 1.0]])
    s_curve, u_curve = [], []
    for gamma in gammas:
        predicted = np.where(gap > gamma, best_seen, best_unseen)
        s_curve.append(float(np.mean(_per_class_accuracy(truth, predicted, seen) or [0.0])))
        u_curve.append(float(np.mean(_per_class_accuracy(truth, predicted, unseen) or [0.0])))
    order = np.lexsort((-np.asarray(u_curve), s_curve))  # S up; at equal S, U down
    s_sorted, u_sorted = np.asarray(s_curve)[order], np.asarray(u_curve)[order]
    ausuc = float(np.sum(np.diff(s_sorted) * (u_sorted[1:] + u_sorted[:-1]) / 2))
    return {
        "gamma": gammas.tolist(),
        "seen_accuracy": s_curve,
        "unseen_accuracy": u_curve,
        "ausuc": ausuc,
    }


def best_gamma(curve: dict[str, Any]) -> tuple[float, float]:
    """The gamma of a :func:`seen_unseen_curve` with the largest H, and that H (first of ties)."""
    pairs = zip(curve["seen_accuracy"], curve["unseen_accuracy"], strict=True)
    h = [harmonic_mean(s, u) for s, u in pairs]
    best = int(np.argmax(h))
    return float(curve["gamma"][best]), float(h[best])


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


def compatibility_scores(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    semantics: np.ndarray,
    test_features: np.ndarray,
    seen: list[int],
    feature_ridge: float = 1.0,
    semantic_ridge: float = 1.0,
) -> np.ndarray:
    """ESZSL (Romera-Paredes & Torr, ICML 2015): a bilinear compatibility x^T V s in closed form.

    ``V = (X^T X / n + γ I)^-1 (X^T Y / n) S (S^T S + λ I)^-1`` with X the standardised seen
    features ``[n, d]``, Y their class codes over the seen classes (+1 for the class, -1
    otherwise, as the paper) and S the seen classes' semantic vectors ``[z, s]``; the score of
    class c is ``x^T V s_c`` for every class, seen or unseen. No generator and no iteration:
    the direct baseline of issue 17. The feature term is divided by n so γ does not depend on
    the training-set size.

    Args:
        train_features: real seen-class features ``[n, d]``.
        train_labels: rows of ``semantics`` ``[n]``, all in ``seen``.
        semantics: semantic vectors of all classes ``[c, s]``.
        test_features: features to score ``[m, d]``.
        seen: rows of ``semantics`` that are seen classes (the columns of Y).
        feature_ridge: γ.
        semantic_ridge: λ.

    Returns:
        Scores ``[m, c]`` float64 (argmax: the prediction; calibrated stacking applies).
    """
    labels = np.asarray(train_labels, np.int64)
    mean = train_features.mean(0)
    scale = train_features.std(0) + 1e-6
    x = (train_features - mean) / scale
    member = labels[:, None] == np.asarray(seen)[None, :]
    if not member.any(1).all():
        raise ValueError("compatibility_scores: a training label is not a seen class")
    codes = np.where(member, 1.0, -1.0)
    s_seen = semantics[np.asarray(seen)].astype(np.float64)
    left = np.linalg.solve(
        x.T @ x / len(x) + feature_ridge * np.eye(x.shape[1]), x.T @ codes / len(x)
    )
    right = np.linalg.inv(s_seen.T @ s_seen + semantic_ridge * np.eye(s_seen.shape[1]))
    weights = left @ s_seen @ right  # [d, s]
    return ((test_features - mean) / scale) @ weights @ semantics.astype(np.float64).T
