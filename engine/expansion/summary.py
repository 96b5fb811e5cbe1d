"""The run's ``summary.md``."""

from __future__ import annotations

import logging
from typing import Any

from engine.expansion.config import ExpandConfig

log = logging.getLogger(f"duse.{__name__}")


def summary_markdown(config: ExpandConfig, metrics: dict[str, Any]) -> str:
    """The run's markdown report."""
    budget = f"rate {config.rate}" if config.count is None else f"count {config.count}"
    on = ", ".join(f"{name} {uri}" for name, uri in metrics["sources"].items())
    lines = [
        f"# Expansion run: {config.scorer} on {on}",
        "",
        *_alignment_lines(metrics.get("alignment")),
        f"- model `{metrics['model']}`, evaluated with `{metrics['eval_model']}`",
        f"- {'class-balanced' if config.balanced else 'class-imbalanced'}, {budget} "
        f"({metrics['budget']} of {metrics['pool_size']} pool samples), "
        f"{len(metrics['rounds'])} round(s), seed {config.seed}",
        f"- target {metrics['initial_target_size']} -> {metrics['final_target_size']}, "
        f"test {metrics['test_size']}",
        *[
            f"- **Warning: round {record['round']}'s model {warning}**"
            for record in metrics["rounds"]
            for warning in record.get("warnings", [])  # absent in runs from before
        ],
        *[
            f"- **Warning: the evaluation model {warning}**"
            for warning in (metrics["final"] or {}).get("warnings", [])
        ],
        "",
        "| round | k | target before | train accuracy | seconds |",
        "|---|---|---|---|---|",
    ]
    for record in metrics["rounds"]:
        accuracy = record["train_accuracy"]
        shown = "-" if accuracy is None else f"{accuracy:.3f}"
        lines.append(
            f"| {record['round']} | {record['k']} | {record['target_size_before']} | "
            f"{shown} | {record['seconds']:.1f} |"
        )
    final = metrics["final"]
    if final:
        lines += [
            "",
            f"**Test accuracy: {final['accuracy']:.4f}** on {final['n']} frames",
            "",
            "| SNR (dB) | accuracy |",
            "|---|---|",
        ]
        lines += [f"| {snr} | {accuracy:.3f} |" for snr, accuracy in final["per_snr"].items()]
    return "\n".join(lines) + "\n"


def _alignment_lines(alignment: dict[str, Any] | None) -> list[str]:
    """Own-data mode: what the class map and SNR window did to the pool."""
    if not alignment:
        return []
    lines = [f"- pool frames used: {alignment['pool_kept']:,} (per class: alignment.json)"]
    lines += [
        f"- pool frames left out ({why}): {n:,}" for why, n in alignment["pool_left_out"].items()
    ]
    if alignment["missing_target_classes"]:
        lines.append(
            f"- **Warning: the pool has no frames of target classes "
            f"{alignment['missing_target_classes']}**"
        )
    return lines
