"""models.registry: names, argument checks, minimum lengths; the package's public surface."""

from __future__ import annotations

import inspect
import re

import pytest
import torch
from torch import nn

import models
from models import registry

EXPECTED = ["alexnet", "cnn1d", "cnn2d", "gru", "mcldnn", "resnet1d", "signet", "sigzsl_cnn"]


def test_available_lists_every_architecture_sorted():
    assert models.available() == EXPECTED


def test_unknown_name_is_a_key_error_listing_known_models():
    with pytest.raises(KeyError) as caught:
        models.build("vgg99", 11, 128)
    message = str(caught.value)
    assert "vgg99" in message
    for name in EXPECTED:
        assert name in message


@pytest.mark.parametrize("num_classes", [1, 0, -3])
def test_fewer_than_two_classes_is_a_value_error(num_classes):
    with pytest.raises(ValueError, match=r"num_classes must be >= 2"):
        models.build("gru", num_classes, 128)


@pytest.mark.parametrize("bad", [2.0, "11", True, None])
def test_non_integer_sizes_are_type_errors(bad):
    with pytest.raises(TypeError, match="cnn1d"):
        models.build("cnn1d", bad, 128)
    with pytest.raises(TypeError, match="length"):
        models.build("cnn1d", 11, bad)


@pytest.mark.parametrize(
    ("name", "minimum"),
    [("cnn1d", 16), ("resnet1d", 32), ("alexnet", 29), ("signet", 16), ("mcldnn", 5)],
)
def test_too_short_length_names_model_and_minimum(name, minimum):
    assert models.model_spec(name).min_length == minimum
    with pytest.raises(ValueError) as caught:
        models.build(name, 11, minimum - 1)
    message = str(caught.value)
    assert name in message
    assert re.search(rf"\b{minimum}\b", message)
    assert models.build(name, 11, minimum).num_classes == 11


@pytest.mark.parametrize("name", EXPECTED)
def test_declared_minimum_is_the_true_minimum(name):
    """The minimum works, and the architecture itself breaks one sample below it."""
    spec = models.model_spec(name)
    model = models.build(name, 3, spec.min_length).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 2, spec.min_length)).shape == (2, 3)
    if spec.min_length > 1:
        with pytest.raises((RuntimeError, ValueError)), torch.no_grad():
            spec.factory(3, spec.min_length - 1)(torch.randn(2, 2, spec.min_length - 1))


def test_register_rejects_a_taken_name_and_a_bad_minimum():
    with pytest.raises(ValueError, match="already registered"):
        registry.register("gru", min_length=1)
    with pytest.raises(ValueError, match="min_length"):
        registry.register("brand_new", min_length=0)
    assert "brand_new" not in models.available()


def test_register_adds_a_buildable_model(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register("tiny_linear", min_length=4)
    class TinyLinear(models.AmrClassifier):
        """A linear model for the test."""

        def __init__(self, num_classes: int, length: int) -> None:
            super().__init__(nn.Flatten(), 2 * length, num_classes)

    assert "tiny_linear" in models.available()
    assert models.model_spec("tiny_linear").summary == "A linear model for the test."
    model = models.build("tiny_linear", 3, 8)
    assert isinstance(model, TinyLinear)
    assert model(torch.zeros(5, 2, 8)).shape == (5, 3)


def test_every_export_is_documented():
    for name in models.__all__:
        obj = getattr(models, name)
        assert inspect.getdoc(obj), name
    for name in EXPECTED:
        doc = inspect.getdoc(models.model_spec(name).factory)
        assert "embedding_dim" in doc, name
