"""A dataset's summary: classes, length, size, and counts per class and SNR."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.data.store import read_index, read_meta

__all__ = ["dataset_info", "format_info"]


def dataset_info(uri: str) -> dict[str, Any]:
    """Summary of the dataset at ``uri`` as a JSON-ready dict.

    Keys: ``uri, classes, length, num_rows, num_shards, size_bytes, snr_grid_db, source,
    counts`` (``counts[class][snr] = frames``).
    """
    meta = read_meta(uri)
    index = read_index(uri)
    counts: dict[str, dict[str, int]] = {}
    for label, name in enumerate(meta.classes):
        snr_values, n = np.unique(index.snr_db[index.labels == label], return_counts=True)
        counts[name] = {f"{s:g}": int(c) for s, c in zip(snr_values, n, strict=True)}
    return {
        "uri": uri,
        "classes": meta.classes,
        "length": meta.length,
        "num_rows": meta.num_rows,
        "num_shards": len(meta.shards),
        "size_bytes": sum(s.size_bytes for s in meta.shards),
        "snr_grid_db": meta.snr_grid_db,
        "source": meta.source,
        "counts": counts,
    }


def format_info(info: dict[str, Any]) -> str:
    """Human-readable form of :func:`dataset_info`."""
    per_class = {name: sum(c.values()) for name, c in info["counts"].items()}
    grid = info["snr_grid_db"]
    source = info["source"]
    lines = [
        f"dataset  {info['uri']}",
        f"source   {source.get('kind')} {source.get('profile', source.get('file', ''))}",
        f"frames   {info['num_rows']:,} x [2, {info['length']}] float32 "
        f"({info['size_bytes'] / 2**20:.1f} MiB in {info['num_shards']} shards)",
        f"snr      {grid[0]:g} .. {grid[-1]:g} dB ({len(grid)} values)",
        f"classes  {len(info['classes'])}:",
    ]
    lines += [
        f"  {label:3d} {name:<10} {per_class[name]:>9,}"
        for label, name in enumerate(info["classes"])
    ]
    return "\n".join(lines)
