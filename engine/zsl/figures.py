"""The seed's figures as PNG: accuracy vs SNR (Fig. 4), synthetic vs real features (Fig. 5),
confusion matrices at one SNR (Fig. 6) and t-SNE of the classifier's input features (Fig. 7)."""

from __future__ import annotations

import os
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from engine._internal.figures import save_png
from engine.data.schema import Frames
from engine.zsl.config import GroupSplit

__all__ = ["draw_run_figures", "draw_summary_figures"]

FEATURES_SHOWN = 50  # Fig. 5 shows 50 synthetic and 50 real vectors
TSNE_PER_CLASS = 60


def _subplots(*grid: int, figsize: tuple[float, float], **options: Any):
    """A figure without pyplot (no global state, any backend) and its axes."""
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*grid, **options)


def _confusion_axes(axes: Axes, matrix: list[list[int]], classes: list[str], title: str) -> None:
    counts = np.asarray(matrix, np.float64)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    axes.imshow(share, vmin=0, vmax=1, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, fontsize=7)
    axes.set_yticks(range(len(classes)), classes, fontsize=7)
    for (row, column), value in np.ndenumerate(share):
        if value >= 0.005:
            color = "white" if value > 0.6 else "black"
            axes.text(
                column, row, f"{value:.2f}", ha="center", va="center", fontsize=6, color=color
            )
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=9)


def _feature_comparison(path: str, real: np.ndarray, synthetic: np.ndarray, name: str) -> None:
    figure, axes = _subplots(1, 2, figsize=(10, 3.2), sharey=True)
    for panel, (data, label) in zip(axes, ((synthetic, "synthetic"), (real, "real")), strict=True):
        panel.plot(data[:FEATURES_SHOWN].T, lw=0.5, alpha=0.6)
        panel.set_title(f"{name}: {min(len(data), FEATURES_SHOWN)} {label} feature vectors")
        panel.set_xlabel("feature index")
    axes[0].set_ylabel("value (scaled)")
    save_png(figure, path)


def _tsne_panels(
    path: str,
    classes: list[str],
    test: Frames,
    test_features: np.ndarray,
    synthetic: np.ndarray,
    synthetic_labels: np.ndarray,
    snrs_db: list[float],
    title: str,
) -> None:
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(0)
    snrs_db = [s for s in snrs_db if (test.snr_db == s).any()]
    if not snrs_db:
        return
    figure, axes = _subplots(1, len(snrs_db), figsize=(4 * len(snrs_db), 4), squeeze=False)
    colors = matplotlib.colormaps["tab10"]
    fake_pick = np.concatenate(
        [
            rng.permutation(np.flatnonzero(synthetic_labels == c))[:TSNE_PER_CLASS]
            for c in np.unique(synthetic_labels)
        ]
    )
    for panel, snr in zip(axes[0], snrs_db, strict=True):
        pick = np.concatenate(
            [
                rng.permutation(np.flatnonzero((test.labels == c) & (test.snr_db == snr)))[
                    :TSNE_PER_CLASS
                ]
                for c in range(len(classes))
            ]
        )
        points = np.concatenate([test_features[pick], synthetic[fake_pick]])
        perplexity = max(2.0, min(30.0, (len(points) - 1) / 3))
        embedded = TSNE(2, perplexity=perplexity, init="pca", random_state=0).fit_transform(points)
        real_xy, fake_xy = embedded[: len(pick)], embedded[len(pick) :]
        for c, name in enumerate(classes):
            mask = test.labels[pick] == c
            panel.scatter(*real_xy[mask].T, s=4, color=colors(c), label=name)
            fake_mask = synthetic_labels[fake_pick] == c
            if fake_mask.any():
                panel.scatter(
                    *fake_xy[fake_mask].T, s=10, marker="x", color=colors(c), label=f"{name} (syn)"
                )
        panel.set_title(f"{title}, {snr:g} dB", fontsize=9)
        panel.set_xticks([])
        panel.set_yticks([])
    axes[0][-1].legend(fontsize=6, markerscale=2, loc="best")
    save_png(figure, path)


def _accuracy_vs_snr(axes: Axes, per_snr: dict[str, dict[str, float]], label: str) -> None:
    snrs = sorted(per_snr, key=float)
    axes.plot(
        [float(s) for s in snrs], [per_snr[s]["accuracy"] for s in snrs], marker="o", label=label
    )


def draw_run_figures(
    out_dir: str,
    group: GroupSplit,
    classes: list[str],
    results: dict[str, Any],
    test: Frames,
    test_features: np.ndarray,
    synthetic: np.ndarray,
    synthetic_labels: np.ndarray,
    tsne_snrs_db: list[float],
) -> None:
    """Figures of one run into ``out_dir``: ``fig4_accuracy_vs_snr.png``,
    ``fig5_features_<class>.png`` per unseen class, ``fig6_confusion.png`` and ``fig7_tsne.png``.

    Real unseen-class test features appear in Fig. 5 and Fig. 7 for display only.
    """
    os.makedirs(out_dir, exist_ok=True)
    metrics = results["sigzslnet"]
    figure, axes = _subplots(figsize=(5, 3.5))
    _accuracy_vs_snr(axes, metrics["per_snr"], group.name)
    axes.set_xlabel("SNR (dB)")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    save_png(figure, os.path.join(out_dir, "fig4_accuracy_vs_snr.png"))
    for name in group.unseen:
        label = classes.index(name)
        real = test_features[test.labels == label]
        fake = synthetic[synthetic_labels == label]
        _feature_comparison(os.path.join(out_dir, f"fig5_features_{name}.png"), real, fake, name)
    if "confusion_at_snr" in metrics:
        at = metrics["confusion_at_snr"]
        figure, axes = _subplots(figsize=(5, 4.5))
        _confusion_axes(axes, at["matrix"], classes, f"{group.name}, {at['snr_db']:g} dB")
        save_png(figure, os.path.join(out_dir, "fig6_confusion.png"))
    _tsne_panels(
        os.path.join(out_dir, "fig7_tsne.png"),
        classes,
        test,
        test_features,
        synthetic,
        synthetic_labels,
        tsne_snrs_db,
        group.name,
    )


def draw_summary_figures(out_dir: str, runs: list[dict[str, Any]]) -> None:
    """Cross-group figures: ``fig4_accuracy_vs_snr.png`` (mean over seeds per group) and
    ``fig6_confusions.png`` (first seed of each group at the confusion SNR)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(run["group"]["name"], []).append(run)
    figure, axes = _subplots(figsize=(6, 4))
    for name, group_runs in groups.items():
        snrs = sorted(group_runs[0]["sigzslnet"]["per_snr"], key=float)
        mean = {
            s: {
                "accuracy": float(
                    np.mean([r["sigzslnet"]["per_snr"][s]["accuracy"] for r in group_runs])
                )
            }
            for s in snrs
        }
        _accuracy_vs_snr(axes, mean, name)
    axes.set_xlabel("SNR (dB)")
    axes.set_ylabel("accuracy (all classes)")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend()
    save_png(figure, os.path.join(out_dir, "fig4_accuracy_vs_snr.png"))
    with_confusion = [r[0] for r in groups.values() if "confusion_at_snr" in r[0]["sigzslnet"]]
    if not with_confusion:
        return
    figure, axes = _subplots(1, len(with_confusion), figsize=(4.5 * len(with_confusion), 4.2))
    for panel, run in zip(np.atleast_1d(axes), with_confusion, strict=True):
        at = run["sigzslnet"]["confusion_at_snr"]
        _confusion_axes(
            panel, at["matrix"], run["classes"], f"{run['group']['name']}, {at['snr_db']:g} dB"
        )
    save_png(figure, os.path.join(out_dir, "fig6_confusions.png"))
