"""The public surface of `scorers`: every export documented; the plugin guide's example runs."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import scorers
from scorers._internal import registry
from scorers.deepfool import deepfool_distance
from scorers.set_selection import glister_order, herding_order

GUIDE = Path(__file__).parents[2] / "docs" / "plugins.md"


def test_every_export_is_documented():
    for name in scorers.__all__:
        assert inspect.getdoc(getattr(scorers, name)), name


def test_long_public_functions_document_every_argument():
    functions = [
        scorers.get_scorer,
        scorers.register,
        scorers.average_repeats,
        deepfool_distance,
        glister_order,
        herding_order,
    ]
    for function in functions:
        doc = inspect.getdoc(function)
        for parameter in inspect.signature(function).parameters:
            name = parameter.lstrip("*")
            assert re.search(rf"\b{name}\b", doc), f"{function.__name__}: {name} undocumented"


def test_the_plugin_guide_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    try:
        exec(blocks[0], namespace)  # defines and registers `logit_gap`
        exec(blocks[1], namespace)
        namespace["test_logit_gap_prefers_the_closest_call"]()
    finally:
        registry._unregister("logit_gap")
    assert len(GUIDE.read_text().splitlines()) < 100
