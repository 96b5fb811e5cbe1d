"""Fixtures shared by the engine's scoring tests."""

import pytest

from engine.data import generate, make_split, read_index
from engine.training import TrainConfig, fit


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """880 rml2016a frames in 4 shards, a split, and a cnn1d trained one epoch on the target."""
    uri = str(tmp_path_factory.mktemp("scoring") / "ds")
    generate("rml2016a", uri, scale=0.004, seed=0, executor="local", shard_bytes=2**18)
    split = make_split(read_index(uri), 11, test=0.2, target=0.1, seed=0)
    model = fit("cnn1d", uri, split.target_ids, TrainConfig(epochs=1, batch_size=64))
    return uri, split, model
