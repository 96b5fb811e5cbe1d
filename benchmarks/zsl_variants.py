"""Zero-shot variants side by side (issue 17 item 3): one ``duse zsl`` run per variant, one table.

A variants file names a base run config and, per variant, the keys it changes (dotted keys as
``--set`` takes them). Each variant runs every group and seed of the base config with
:func:`engine.zsl.run_zsl` into ``<out>/<variant>/`` (finished runs are kept, so a rerun
resumes), and ``<out>/comparison.md`` / ``comparison.json`` put S, U, H, accuracy and AUSUC of
every method (SigZSLNet, the nearest-prototype and ESZSL baselines) per group and variant
together, means over seeds.

    python -m benchmarks.zsl_variants --variants benchmarks/results/sigzsl-physics/variants.yaml
        [--only NAME ...]

Variants file::

    base: jobs/configs/zsl_cpu.yaml
    out: benchmarks/results/sigzsl-physics
    variants:
      seed-method: {out: benchmarks/results/sigzsl}   # the base as recorded elsewhere
      physics-aligned: {attributes: physics, attribute_encoding: value,
                        semantic.mode: attributes, cnn_alignment: 1.0}
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import yaml

from engine._internal.logs import configure_logging
from engine.zsl import load_config, run_zsl
from engine.zsl.pipeline import METHODS
from engine.zsl.report import PAPER_TABLE5

_METRICS = ("seen_accuracy", "unseen_accuracy", "harmonic_mean", "accuracy", "ausuc")
_LABELS = {
    "sigzslnet": "SigZSLNet",
    "baseline_prototype": "prototype",
    "baseline_compatibility": "ESZSL",
}


def read_variants(path: str) -> dict[str, Any]:
    """The variants file, checked: ``base``, ``out`` and a non-empty ``variants`` mapping."""
    with open(path) as handle:
        spec = yaml.safe_load(handle)
    if not isinstance(spec, dict) or {"base", "out", "variants"} - spec.keys():
        raise ValueError(f"{path}: needs base, out and variants")
    if not isinstance(spec["variants"], dict) or not spec["variants"]:
        raise ValueError(f"{path}: variants must be a non-empty mapping of name -> changes")
    for name, changes in spec["variants"].items():
        try:  # a bad key fails here, before any run
            load_config(spec["base"], **(changes or {}))
        except (KeyError, ValueError) as error:
            raise ValueError(f"{path}: variant {name!r}: {error}") from error
    return spec


def run_variants(spec: dict[str, Any], only: list[str] | None = None) -> dict[str, Any]:
    """Run the variants (``only``: these names) and write the comparison; return it."""
    rows = []
    for name, changes in spec["variants"].items():
        config = load_config(spec["base"], **(changes or {}))
        if "out" not in (changes or {}):  # a variant may point at a run recorded elsewhere
            config = config.replace(out=os.path.join(spec["out"], name))
        if only and name not in only:
            summary_path = os.path.join(config.out, "summary.json")
            if not os.path.exists(summary_path):
                continue
            with open(summary_path) as handle:
                summary = json.load(handle)
        else:
            start = time.perf_counter()
            summary = run_zsl(config)
            print(f"{name}: {time.perf_counter() - start:.0f} s")
        rows += _rows(name, changes or {}, summary)
    comparison = {"base": spec["base"], "variants": spec["variants"], "rows": rows}
    os.makedirs(spec["out"], exist_ok=True)
    with open(os.path.join(spec["out"], "comparison.json"), "w") as handle:
        json.dump(comparison, handle, indent=1)
    with open(os.path.join(spec["out"], "comparison.md"), "w") as handle:
        handle.write(comparison_markdown(rows))
    return comparison


def _rows(name: str, changes: dict[str, Any], summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for group, entry in summary.items():
        if group == "runs":
            continue
        for method in METHODS:
            if method in entry:
                values = {m: entry[method][m]["mean"] for m in _METRICS if m in entry[method]}
                rows.append(
                    {"variant": name, "group": group, "method": method, "runs": entry["runs"]}
                    | values
                )
    return rows


def comparison_markdown(rows: list[dict[str, Any]]) -> str:
    """One table, grouped by group, then variant, then method; the seed's Table 5 per group."""
    lines = [
        "| group | variant | method | runs | S | U | H | accuracy | AUSUC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for group in sorted({row["group"] for row in rows}):
        for row in (r for r in rows if r["group"] == group):
            cells = " | ".join(f"{row[m]:.4f}" if m in row else "–" for m in _METRICS)
            label = _LABELS[row["method"]]
            lines.append(f"| {group} | {row['variant']} | {label} | {row['runs']} | {cells} |")
        if group in PAPER_TABLE5:
            cells = " | ".join(f"{v:.4f}" for v in PAPER_TABLE5[group])
            lines.append(f"| {group} | paper Table 5 | SigZSLNet | 5 | {cells} | – |")
    return "\n".join(lines) + "\n\nMeans over seeds. S, U, H, AUSUC as in docs/zsl.md.\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", required=True, help="the variants YAML")
    parser.add_argument("--only", nargs="*", help="run only these variants (others: read)")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        spec = read_variants(args.variants)
    except (OSError, KeyError, ValueError) as error:
        parser.error(str(error))
    comparison = run_variants(spec, args.only)
    print(f"wrote {spec['out']}/comparison.md ({len(comparison['rows'])} rows)")


if __name__ == "__main__":
    main()
