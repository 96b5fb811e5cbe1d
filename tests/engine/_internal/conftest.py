"""Fixtures of the plumbing tests."""

import logging

import pytest

from engine._internal import logs


@pytest.fixture
def restore_logging():
    """Put the root and ``duse`` loggers back as they were (pytest's handlers included)."""
    root, duse = logging.getLogger(), logging.getLogger("duse")
    saved = (list(root.handlers), root.level, duse.level, logs._verbosity)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    duse.setLevel(saved[2])
    logs._verbosity = saved[3]
