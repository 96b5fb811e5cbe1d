"""Remote outputs for writers that use plain file APIs: write locally, upload once done."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator

import fsspec

__all__ = ["is_local", "staged_output"]

log = logging.getLogger(f"duse.{__name__}")


def is_local(uri: str) -> bool:
    """True for plain paths and ``file://`` URIs (from the URI alone: no filesystem is made, so
    a remote protocol's package need not be installed to ask)."""
    protocol = fsspec.core.split_protocol(uri)[0]
    return protocol in (None, "file", "local")


@contextlib.contextmanager
def staged_output(uri: str) -> Iterator[str]:
    """A local directory to write into, copied to ``uri`` afterwards when ``uri`` is remote.

    A local ``uri`` is used as is; for ``s3://``, ``gs://`` and other fsspec URIs the output goes
    to a temporary directory that is uploaded once the body finishes without error.
    """
    if is_local(uri):
        yield fsspec.core.split_protocol(uri)[1]
        return
    with tempfile.TemporaryDirectory(prefix="job-out") as local:
        yield local
        fs, path = fsspec.core.url_to_fs(uri)
        log.info("uploading %s to %s", local, uri)
        fs.put(f"{local}/", path.rstrip("/"), recursive=True)
