"""Shared fixtures of the engine.zsl tests: one torch thread, the class names, a tiny dataset."""

from __future__ import annotations

import pytest
import torch

from engine.data.generate import generate

CLASSES = ["BPSK", "QPSK", "2ASK", "4ASK", "16QAM", "32QAM", "64QAM"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def tiny_sigzsl7(tmp_path_factory):
    """sigzsl7 at 4 frames per (class, SNR): 3 train / 1 test per key."""
    uri = str(tmp_path_factory.mktemp("zsl") / "ds")
    generate("sigzsl7", uri, scale=0.01, seed=0, executor="local")
    return uri
