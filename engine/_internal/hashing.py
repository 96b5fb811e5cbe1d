"""SHA-256 of a file on any fsspec filesystem, streamed in chunks."""

from __future__ import annotations

import hashlib

import fsspec

__all__ = ["HASH_CHUNK_BYTES", "sha256_file"]

HASH_CHUNK_BYTES = 8 * 2**20  # bytes read per step: large files never sit in memory whole


def sha256_file(
    path: str, fs: fsspec.AbstractFileSystem | None = None, *, progress: bool = False
) -> tuple[str, int]:
    """SHA-256 and size of one file, read in chunks of :data:`HASH_CHUNK_BYTES`.

    Args:
        path: a local path or fsspec URI; a path on ``fs`` when ``fs`` is given.
        fs: the filesystem of ``path`` (None: resolved from ``path``).
        progress: show a byte progress bar (tqdm) while hashing.

    Returns:
        ``(hex digest, size in bytes)``.
    """
    from tqdm import tqdm

    if fs is None:
        fs, path = fsspec.core.url_to_fs(path)
    digest, size_bytes = hashlib.sha256(), 0
    with (
        fs.open(path, "rb") as handle,
        tqdm(desc="sha256", unit="B", unit_scale=True, disable=not progress) as bar,
    ):
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            size_bytes += len(chunk)
            bar.update(len(chunk))
    return digest.hexdigest(), size_bytes
