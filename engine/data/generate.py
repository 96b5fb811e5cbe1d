"""Generate a synthetic profile into the canonical format, one shard per Ray task.

Row layout follows RML2018: class-major, then SNR, then frame, so
``id = (label * n_snr + snr_index) * frames_per_key + k``. Randomness is drawn per block of
``BLOCK_FRAMES`` frames of one (class, SNR) key from ``seeds.rng(seed, label, snr_index, block)``
(:mod:`engine._internal.seeds`), so a frame's bytes depend on the seed and its id only, not on
the shard size or on how many workers ran: the same seed gives the same dataset bytes.
"""

from __future__ import annotations

import logging
import math
import os
import posixpath
import shutil
from dataclasses import asdict
from typing import ClassVar, Literal

import fsspec
import numpy as np
from pydantic import Field

from engine._internal import seeds
from engine._internal.atomic import is_local_filesystem
from engine.config import ConfigMixin, config_class
from engine.data.profiles import Profile, get_profile
from engine.data.schema import DatasetMeta, Frames
from engine.data.store import (
    _ROW_GROUP_BYTES,
    DEFAULT_SHARD_BYTES,
    DatasetWriter,
    read_meta,
    resolve,
    rows_per_shard,
    shard_name,
    write_shard,
)
from engine.data.synth import synthesize_frames

__all__ = [
    "BLOCK_FRAMES",
    "GENERATOR_VERSION",
    "GenerateConfig",
    "ensure_generated",
    "estimated_bytes",
    "frames_per_key",
    "generate",
    "generate_rows",
    "stale_reason",
]

log = logging.getLogger(f"duse.{__name__}")

BLOCK_FRAMES = 256
# Bumped whenever the same (profile, scale, seed) would give different frames; recorded as
# ``source.generator_version`` in dataset.json. 1 (absent): before issue 18's calibration;
# 2: rml2016a's replayed channel; 3: rml2018a's CFO/SRO as random walks (docs/datasets.md).
GENERATOR_VERSION = 3
# The version at which each profile's frames last changed; a dataset written before it is stale.
FRAMES_CHANGED_AT = {"rml2016a": 2, "rml2018a": 3}


@config_class
class GenerateConfig(ConfigMixin):
    """A ``duse data generate`` / ``python -m jobs.generate`` run: the :func:`generate` keys."""

    config_name: ClassVar[str] = "generate config"

    profile: str = Field(description="profile name (engine.data.profiles: rml2016a, ...)")
    out: str = Field(description="dataset directory to create (any fsspec URI)")
    scale: float = Field(
        1.0,
        gt=0,
        description="size factor; frames per (class, SNR) = round(scale * the profile's "
        "count), at least 1",
    )
    seed: int = Field(
        0, ge=0, description="base seed; the dataset is a pure function of (profile, scale, seed)"
    )
    shard_mib: float = Field(128, gt=0, description="target shard size in MiB (one per task)")
    overwrite: bool = Field(False, description="replace out if it exists")
    executor: Literal["ray", "local"] = Field(
        "ray", description="'ray' (one task per shard across the cluster) or 'local'"
    )


def frames_per_key(profile: Profile, scale: float) -> int:
    """Frames per (class, SNR) at ``scale`` (at least 1).

    Raises:
        ValueError: ``scale`` is not a positive finite number.
    """
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    return max(1, round(profile.frames_per_key * scale))


def stale_reason(meta: DatasetMeta, profile_name: str, scale: float, seed: int) -> str | None:
    """Why the dataset ``meta`` is not what ``generate(profile_name, scale, seed)`` writes now.

    Returns None when it is: synthetic, the same profile, scale and seed, and written by a
    generator version at or after the one that last changed this profile's frames
    (:data:`FRAMES_CHANGED_AT`; a missing version reads as 1).
    """
    source = meta.source
    if source.get("kind") != "synthetic":
        return f"it is not synthetic (source kind {source.get('kind')!r})"
    recorded = (source.get("profile"), source.get("scale"), source.get("seed"))
    if recorded != (profile_name, scale, seed):
        return "it holds profile {!r} at scale {} with seed {}".format(*recorded)
    version = source.get("generator_version", 1)
    changed = FRAMES_CHANGED_AT.get(profile_name, 1)
    if version < changed:
        return (
            f"it was written by generator version {version}; {profile_name}'s frames changed "
            f"at {changed} (docs/datasets.md)"
        )
    return None


def ensure_generated(
    out: str, profile_name: str, *, scale: float, seed: int, executor: str = "ray"
) -> DatasetMeta:
    """The dataset at ``out``, generated first when it is missing.

    Raises:
        ValueError: ``out`` holds a dataset that is not this (profile, scale, seed) at this
            generator version (:func:`stale_reason`); nothing is deleted.
    """
    fs, path = fsspec.core.url_to_fs(out)
    if not fs.exists(f"{path.rstrip('/')}/dataset.json"):
        log.info("generating %s at scale %g into %s", profile_name, scale, out)
        return generate(profile_name, out, scale=scale, seed=seed, executor=executor, progress=True)
    meta = read_meta(out)
    reason = stale_reason(meta, profile_name, scale, seed)
    if reason is not None:
        raise ValueError(
            f"{out} is not {profile_name} at scale {scale} with seed {seed}: {reason}; "
            "delete it or point `data` elsewhere"
        )
    return meta


def estimated_bytes(
    profile_name: str, scale: float = 1.0, shard_bytes: int = DEFAULT_SHARD_BYTES
) -> int:
    """About how many bytes :func:`generate` writes for this profile, scale and shard size.

    The payload is 14 bytes (id, label, SNR) plus ``8 L`` (float32 I and Q) per frame; on top,
    each row group carries up to ~0.6 MiB of Parquet dictionary pages (measured: +4 % on
    128 MiB shards, +55 % on 1 MiB ones) and each shard a footer.

    Raises:
        KeyError: unknown profile. ValueError: bad ``scale`` or ``shard_bytes``.
    """
    profile = get_profile(profile_name)
    rows = len(profile.classes) * len(profile.snr_grid_db) * frames_per_key(profile, scale)
    row_bytes = 8 * profile.length + 14
    per_shard = min(rows, rows_per_shard(profile.length, shard_bytes))
    per_group = min(per_shard, max(1, _ROW_GROUP_BYTES // row_bytes))
    shards = math.ceil(rows / per_shard)
    groups = shards * math.ceil(per_shard / per_group)
    dictionary = min(8 * profile.length * per_group, 2**20) * 0.6
    return int(rows * row_bytes + groups * dictionary + shards * 16 * 2**10)


def _format_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _free_bytes(out: str) -> tuple[int, str] | None:
    """Free space where ``out`` would be written and what was measured; ``None`` if unknown.

    Local disks: the free space of the nearest existing directory; ``memory://``: the
    available physical memory (the dataset lives in this process). Other filesystems do not
    say.
    """
    fs, path = resolve(out)
    if is_local_filesystem(fs):
        probe = path
        while probe and not os.path.isdir(probe):
            parent = posixpath.dirname(probe)
            if parent == probe:
                break
            probe = parent
        return shutil.disk_usage(probe or "/").free, probe or "/"
    if fs.protocol in ("memory", ("memory",)):
        try:
            pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):  # pragma: no cover - not Linux
            return None
        return pages, "available memory"
    return None


def _check_room(profile: Profile, scale: float, out: str, shard_bytes: int, total: int) -> None:
    """Refuse a dataset that cannot fit where it is to be written, before writing anything."""
    needed = estimated_bytes(profile.name, scale, shard_bytes)
    free = _free_bytes(out)
    if free is not None and needed > free[0]:
        raise ValueError(
            f"{profile.name} at scale {scale:g} is {total:,} frames of L={profile.length}, "
            f"about {_format_bytes(needed)}; {free[1]} has only {_format_bytes(free[0])} free"
        )
    log.info("generating about %s at %s", _format_bytes(needed), out)


def generate_rows(profile: Profile, per_key: int, seed: int, start: int, stop: int) -> Frames:
    """Frames with ids ``start .. stop-1`` of the profile at ``per_key`` frames per key."""
    n_snr = len(profile.snr_grid_db)
    parts = []
    key_first, key_last = start // per_key, (stop - 1) // per_key
    for key in range(key_first, key_last + 1):
        label, snr_index = divmod(key, n_snr)
        lo = max(start, key * per_key) - key * per_key
        hi = min(stop, (key + 1) * per_key) - key * per_key
        parts.append(_key_frames(profile, per_key, seed, label, snr_index, lo, hi))
    return Frames.concat(parts)


def _key_frames(
    profile: Profile, per_key: int, seed: int, label: int, snr_index: int, lo: int, hi: int
) -> Frames:
    """Frames ``lo .. hi-1`` of one (class, SNR) key, built block by block."""
    snr_db = profile.snr_grid_db[snr_index]
    blocks = []
    for block in range(lo // BLOCK_FRAMES, (hi - 1) // BLOCK_FRAMES + 1):
        first = block * BLOCK_FRAMES
        count = min(BLOCK_FRAMES, per_key - first)
        rng = seeds.rng(seed, label, snr_index, block)
        iq = synthesize_frames(
            profile.signal, profile.classes[label], snr_db, count, profile.length, rng
        )
        keep = slice(max(lo, first) - first, min(hi, first + count) - first)
        blocks.append(iq[keep])
    iq = np.concatenate(blocks)
    base = (label * len(profile.snr_grid_db) + snr_index) * per_key
    n = len(iq)
    return Frames(
        np.arange(base + lo, base + lo + n, dtype=np.int64),
        np.full(n, label, np.int16),
        np.full(n, snr_db, np.float32),
        iq,
    )


def _generate_shard(
    profile_name: str, per_key: int, seed: int, start: int, stop: int, directory: str, index: int
):
    frames = generate_rows(get_profile(profile_name), per_key, seed, start, stop)
    return write_shard(directory, shard_name(index), frames)


def generate(
    profile_name: str,
    out: str,
    *,
    scale: float = 1.0,
    seed: int = 0,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    overwrite: bool = False,
    executor: str = "ray",
    progress: bool = False,
) -> DatasetMeta:
    """Generate a synthetic dataset at ``out`` (any fsspec URI).

    Args:
        profile_name: one of :data:`engine.data.profiles.PROFILES`.
        out: dataset directory to create.
        scale: size factor; frames per (class, SNR) = round(scale * the profile's count), min 1.
        seed: base seed; the dataset is a pure function of (profile, scale, seed).
        shard_bytes: target shard size (one shard per task).
        overwrite: replace ``out`` if it exists.
        executor: ``"ray"`` (one task per shard on the current/local Ray) or ``"local"``.
            ``memory://`` outputs are process-local, so they always generate locally.
        progress: show a progress bar.

    Raises:
        KeyError: unknown profile. ValueError: bad scale/executor, or the dataset would not
            fit where it is to be written (:func:`estimated_bytes` against the free disk, or
            memory for ``memory://``). FileExistsError: ``out`` exists and ``overwrite`` is
            false.
    """
    profile = get_profile(profile_name)
    per_key = frames_per_key(profile, scale)
    if executor not in ("ray", "local"):
        raise ValueError(f"executor must be 'ray' or 'local', got {executor!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    total = len(profile.classes) * len(profile.snr_grid_db) * per_key
    _check_room(profile, scale, out, shard_bytes, total)
    step = rows_per_shard(profile.length, shard_bytes)
    bounds = [(lo, min(lo + step, total)) for lo in range(0, total, step)]
    source = {
        "kind": "synthetic",
        "generator_version": GENERATOR_VERSION,
        "profile": profile.name,
        "scale": scale,
        "seed": seed,
        "frames_per_key": per_key,
        "signal": asdict(profile.signal),
    }
    if resolve(out)[0].protocol in ("memory", ("memory",)):
        executor = "local"
    with DatasetWriter(
        out,
        profile.classes,
        profile.length,
        profile.snr_grid_db,
        source,
        shard_bytes=shard_bytes,
        overwrite=overwrite,
    ) as writer:
        args = [
            (profile.name, per_key, seed, lo, hi, writer.staging_uri, i)
            for i, (lo, hi) in enumerate(bounds)
        ]
        log.info("generating %s: %d frames in %d shards (%s)", out, total, len(args), executor)
        run = _run_on_ray if executor == "ray" else _run_locally
        for info in run(args, progress, total):
            writer.add_shard(info)
    return writer.meta


def _run_locally(args, progress, total):
    with _progress_bar(progress, total) as bar:
        for arg in args:
            info = _generate_shard(*arg)
            bar.update(info.num_rows)
            yield info


def _run_on_ray(args, progress, total):
    import ray

    from engine._internal.ray_runtime import ensure_ray

    ensure_ray()
    task = ray.remote(num_cpus=1, max_retries=2)(_generate_shard)
    pending = [task.remote(*arg) for arg in args]
    try:
        with _progress_bar(progress, total) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                info = ray.get(done[0])
                bar.update(info.num_rows)
                yield info
    finally:
        for ref in pending:  # a failure (or interrupt) must not leave writers behind
            ray.cancel(ref, force=True)


def _progress_bar(enabled: bool, total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", disable=not enabled, unit_scale=True)
