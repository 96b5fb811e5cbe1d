"""The results table beside the seed's Table 5."""

from __future__ import annotations

from typing import Any

__all__ = ["PAPER_TABLE5", "summary_markdown"]

# Seed Table 5: (S, U, H, accuracy) per group, each the mean of 5 runs.
PAPER_TABLE5: dict[str, tuple[float, float, float, float]] = {
    "group1": (0.8924, 1.0, 0.9431, 0.9078),
    "group2": (0.9364, 0.8515, 0.8919, 0.9243),
    "group3": (0.88, 0.7114, 0.7868, 0.8318),
    "group4": (0.7991, 0.6932, 0.7424, 0.7688),
}

_LABELS = {
    "sigzslnet": "SigZSLNet (ours)",
    "baseline_prototype": "no GAN, nearest prototype",
    "baseline_compatibility": "no GAN, ESZSL compatibility",
}
_METRICS = ("seen_accuracy", "unseen_accuracy", "harmonic_mean", "accuracy", "ausuc")


def _cell(values: dict[str, Any], name: str) -> str:
    if name not in values:
        return "–"
    stats = values[name]
    if len(stats["values"]) < 2:
        return f"{stats['mean']:.4f}"
    return f"{stats['mean']:.4f} ± {stats['std']:.4f}"


def summary_markdown(summary: dict[str, Any]) -> str:
    """A markdown table: per group, ours (SigZSLNet, the no-GAN baselines) and the paper's Table 5.

    Args:
        summary: :func:`engine.zsl.pipeline.summarize` output.

    Returns:
        Markdown text (mean ± std over seeds where there are several), then a legend.
    """
    lines = [
        "| group | unseen | method | runs | S | U | H | accuracy | AUSUC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in summary.items():
        unseen = ", ".join(entry["group"]["unseen"])
        for method, label in _LABELS.items():
            if method not in entry:
                continue
            cells = " | ".join(_cell(entry[method], metric) for metric in _METRICS)
            lines.append(f"| {name} | {unseen} | {label} | {entry['runs']} | {cells} |")
        if name in PAPER_TABLE5:
            cells = " | ".join(f"{v:.4f}" for v in PAPER_TABLE5[name])
            lines.append(f"| {name} | {unseen} | paper Table 5 | 5 | {cells} | – |")
    lines.append(
        "\nS, U: per-class accuracy over seen / unseen classes (argmax over all classes); "
        "H = 2SU/(S+U). AUSUC: area under the seen-unseen accuracy curve as calibrated "
        "stacking's gamma sweeps (Chao et al. 2016; 1 = perfect, small = the unseen scores "
        "carry no information); not used to choose anything."
    )
    return "\n".join(lines) + "\n"
