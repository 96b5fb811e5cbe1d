import hashlib
import uuid

import fsspec
import pytest

from engine._internal import hashing
from engine._internal.hashing import sha256_file


@pytest.mark.parametrize("where", ["local", "memory"])
def test_sha256_file_streams_in_chunks(tmp_path, monkeypatch, where):
    monkeypatch.setattr(hashing, "HASH_CHUNK_BYTES", 7)
    body = bytes(range(256)) * 3
    uri = str(tmp_path / "f.bin") if where == "local" else f"memory://h-{uuid.uuid4().hex}/f.bin"
    with fsspec.open(uri, "wb") as handle:
        handle.write(body)
    expected = (hashlib.sha256(body).hexdigest(), len(body))
    assert sha256_file(uri) == expected
    fs, path = fsspec.core.url_to_fs(uri)
    assert sha256_file(path, fs) == expected
