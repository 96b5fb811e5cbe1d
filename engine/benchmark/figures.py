"""The benchmark's figures as PNG (drawn by ``engine.benchmark.report.draw_figures``).

Matplotlib ``Figure`` objects without pyplot: no global state, any backend.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from engine._internal.figures import save_png
from engine.benchmark.tsne import TsnePoints
from engine.data.store import read_meta

if TYPE_CHECKING:
    from engine.benchmark.config import BenchmarkConfig

BEST_SHOWN = 3  # methods in the accuracy-per-SNR figure, plus ``random`` as the floor
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _grid(count: int, columns: int, size: tuple[float, float]):
    """A figure with ``count`` panels, ``columns`` per row; the unused panels are hidden."""
    rows = math.ceil(count / columns)
    columns = min(columns, count)
    figure = Figure(figsize=(size[0] * columns, size[1] * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for spare in axes[count:]:
        spare.set_visible(False)
    return figure, axes[:count]


def accuracy_vs_rate(path: str, config: BenchmarkConfig, cells: list[dict[str, Any]]) -> None:
    """Mean test accuracy against expansion rate per method, error bars = std over seeds."""
    figure, axes = _grid(len(config.eval_models), 2, (8.5, 4.6))
    palette = matplotlib.colormaps["tab20"]
    for panel, eval_model in zip(axes, config.eval_models, strict=True):
        for number, method in enumerate(config.methods):
            row = [
                c
                for c in cells
                if c["method"] == method.name and c["eval_model"] == eval_model and c["n"]
            ]
            if row:
                panel.errorbar(
                    [100 * c["rate"] for c in row],
                    [c["mean"] for c in row],
                    yerr=[c["std"] for c in row],
                    marker=MARKERS[number % len(MARKERS)],
                    color=palette(number % 20),
                    linestyle="-" if method.scorer == "duse" else "--",
                    capsize=3,
                    label=method.name,
                )
        panel.set_xlabel("expansion rate (% of the auxiliary pool)")
        panel.set_ylabel("test accuracy (%)")
        panel.set_title(f"evaluated with {eval_model}")
        panel.grid(alpha=0.3)
        panel.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save_png(figure, path)


def _runs_at(runs: list[dict[str, Any]], method: str, rate: float) -> list[dict[str, Any]]:
    return [r for r in runs if r["method"] == method and math.isclose(r["rate"], rate)]


def selected_per_class(
    path: str, config: BenchmarkConfig, runs: list[dict[str, Any]], rate: float
) -> None:
    """Samples selected per class for each method at ``rate``, mean over seeds (paper Fig. 3)."""
    classes = read_meta(config.data).classes
    figure, axes = _grid(len(config.methods), 4, (4.0, 3.0))
    for panel, method in zip(axes, config.methods, strict=True):
        found = _runs_at(runs, method.name, rate)
        if found:
            counts = np.mean([r["selected_per_class"] for r in found], axis=0)
            panel.bar(range(len(classes)), counts, color="tab:blue")
        panel.set_xticks(range(len(classes)), classes, rotation=90, fontsize=6)
        panel.set_title(f"{method.name} ({_percent(rate)})", fontsize=9)
        panel.set_ylabel("selected samples", fontsize=8)
    save_png(figure, path)


def _percent(rate: float) -> str:
    return f"{rate * 100:g} %"


def tsne(path: str, config: BenchmarkConfig, points: TsnePoints, rate: float) -> None:
    """t-SNE of the expanded sets at ``rate``, first seed (paper Fig. 4): one joint embedding,
    one panel per method; the initial target in grey, the selected samples coloured by class."""
    figure, axes = _grid(max(1, len(points.selected)), 4, (3.6, 3.4))
    palette = matplotlib.colormaps["tab20"]
    colors = [palette(i) for i in range(20) if i not in (14, 15)]  # no greys: the target is grey
    classes = read_meta(config.data).classes
    is_target = np.isin(points.ids, points.target_ids)
    for panel, (name, chosen) in zip(axes, points.selected.items(), strict=False):
        panel.scatter(*points.points[is_target].T, s=3, c="0.8", label="initial target")
        mine = np.isin(points.ids, chosen)
        for label in np.unique(points.labels[mine]):
            where = mine & (points.labels == label)
            color = colors[int(label) % len(colors)]
            panel.scatter(*points.points[where].T, s=5, color=color, label=classes[label])
        panel.set_title(f"{name} ({_percent(rate)}, seed {points.seed})", fontsize=9)
        panel.set_xticks([])
        panel.set_yticks([])
    axes[0].legend(fontsize=5, markerscale=2, loc="best")
    save_png(figure, path)


def accuracy_per_snr(
    path: str, config: BenchmarkConfig, cells: list[dict[str, Any]], runs: list[dict[str, Any]]
) -> None:
    """Test accuracy per SNR of the best methods (and ``random``) at the largest rate, first
    evaluation model, mean over seeds."""
    rate, eval_model = max(config.rates), config.eval_models[0]
    ranked = sorted(
        (c for c in cells if c["eval_model"] == eval_model and c["rate"] == rate and c["n"]),
        key=lambda c: -c["mean"],
    )
    shown = [c["method"] for c in ranked[:BEST_SHOWN]]
    if "random" not in shown and any(c["method"] == "random" for c in ranked):
        shown.append("random")
    figure = Figure(figsize=(6.5, 4.2))
    panel = figure.subplots()
    for name in shown:
        found = _runs_at(runs, name, rate)
        snrs = sorted(found[0]["evaluations"][eval_model]["per_snr"], key=float)
        means = [
            100 * np.mean([r["evaluations"][eval_model]["per_snr"][s] for r in found]) for s in snrs
        ]
        panel.plot([float(s) for s in snrs], means, marker="o", label=name)
    panel.set_xlabel("SNR (dB)")
    panel.set_ylabel("test accuracy (%)")
    panel.set_title(f"accuracy per SNR at {_percent(rate)} ({eval_model})")
    panel.grid(alpha=0.3)
    panel.legend(fontsize=8)
    save_png(figure, path)
