"""A dataset's summary: classes, length, size, sample rate, and counts per class and SNR."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.data.store import read_index, read_meta

__all__ = ["UNKNOWN_SNR_KEY", "dataset_info", "format_info"]

UNKNOWN_SNR_KEY = "unknown"  # the key of frames with a NaN (unknown) SNR in ``counts[class]``


def dataset_info(uri: str) -> dict[str, Any]:
    """Summary of the dataset at ``uri`` as a JSON-ready dict.

    Keys: ``uri, classes, length, num_rows, num_shards, size_bytes, snr_grid_db,
    snr_unknown_rows, sample_rate_hz, source, counts`` (``counts[class][snr] = frames``, with
    frames of unknown SNR under ``"unknown"``; ``sample_rate_hz`` is ``None`` when unknown).
    """
    meta = read_meta(uri)
    index = read_index(uri)
    counts: dict[str, dict[str, int]] = {}
    for label, name in enumerate(meta.classes):
        snr_db = index.snr_db[index.labels == label]
        unknown = np.isnan(snr_db)
        snr_values, n = np.unique(snr_db[~unknown], return_counts=True)
        counts[name] = {f"{s:g}": int(c) for s, c in zip(snr_values, n, strict=True)}
        if unknown.any():
            counts[name][UNKNOWN_SNR_KEY] = int(unknown.sum())
    return {
        "uri": uri,
        "classes": meta.classes,
        "length": meta.length,
        "num_rows": meta.num_rows,
        "num_shards": len(meta.shards),
        "size_bytes": sum(s.size_bytes for s in meta.shards),
        "snr_grid_db": meta.snr_grid_db,
        "snr_unknown_rows": meta.snr_unknown_rows,
        "sample_rate_hz": meta.sample_rate_hz,
        "source": meta.source,
        "counts": counts,
    }


def _hz(rate: float) -> str:
    return f"{int(rate):,} Hz" if rate == int(rate) else f"{rate:,.3f} Hz"


def _generator(source: dict[str, Any]) -> str:
    """`` (generator version N)`` for synthetic data: version 1 (no field) is pre-calibration."""
    if source.get("kind") != "synthetic":
        return ""
    return f" (generator version {source.get('generator_version', 1)})"


def format_info(info: dict[str, Any]) -> str:
    """Human-readable form of :func:`dataset_info`."""
    per_class = {name: sum(c.values()) for name, c in info["counts"].items()}
    grid = info["snr_grid_db"]
    unknown = info.get("snr_unknown_rows", 0)
    source = info["source"]
    lines = [
        f"dataset  {info['uri']}",
        f"source   {source.get('kind')} {source.get('profile', source.get('file', ''))}"
        + _generator(source),
        f"frames   {info['num_rows']:,} x [2, {info['length']}] float32 "
        f"({info['size_bytes'] / 2**20:.1f} MiB in {info['num_shards']} shards)",
    ]
    if info.get("sample_rate_hz") is not None:
        lines.append(f"rate     {_hz(info['sample_rate_hz'])}")
    if grid:
        lines.append(f"snr      {grid[0]:g} .. {grid[-1]:g} dB ({len(grid)} values)")
    if unknown:
        lines.append(f"{'snr' if not grid else '':<9}SNR unknown for {unknown:,} frames")
    lines.append(f"classes  {len(info['classes'])}:")
    lines += [
        f"  {label:3d} {name:<10} {per_class[name]:>9,}"
        for label, name in enumerate(info["classes"])
    ]
    return "\n".join(lines)
