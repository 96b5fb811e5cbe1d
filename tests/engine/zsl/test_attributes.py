"""engine.zsl.attributes: the built-in and user attribute tables and their encodings."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from engine.zsl import (
    load_attribute_table,
)
from tests.engine.zsl.conftest import CLASSES


def test_builtin_table_fixes_the_bpsk_qpsk_collision():
    table = load_attribute_table("sigzsl7")
    assert table.classes == tuple(CLASSES)
    assert table.rows["BPSK"] != table.rows["QPSK"]
    assert dict(zip(table.attributes, table.rows["QPSK"], strict=True))["order"] == 4
    codes = table.codes(CLASSES)
    assert codes.sum(1).tolist() == [len(table.attributes)] * 7  # one bit per attribute
    assert len({tuple(row) for row in codes}) == 7
    vectors = table.vectors(CLASSES)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_the_paper_table_as_printed_is_rejected():
    with pytest.raises(ValueError, match=r"BPSK.*QPSK.*identical"):
        load_attribute_table("sigzsl7_paper")


def test_thermometer_encoding_is_ordinal():
    table = load_attribute_table("sigzsl7")
    order = table.attributes.index("order")  # levels 2, 4, 16, 32, 64: the first block
    widths = [len({row[a] for row in table.rows.values()}) - 1 for a in range(order + 1)]
    start = sum(widths[:order])
    codes = table.codes(["BPSK", "QPSK", "64QAM"], "thermometer")[:, start : start + 4]
    assert codes.tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]]


def test_description_encodings_hold_each_attribute_in_its_own_block():
    table = load_attribute_table("sigzsl7")
    encodings = table.description_encodings(CLASSES)
    width = int(np.ceil(47 / len(table.attributes)))
    assert encodings.shape == (7, 6, width * len(table.attributes))  # phase_levels: 6 levels
    codes = table.codes(["QPSK"])[0]
    assert encodings[1].sum() == width * len(table.attributes)
    np.testing.assert_array_equal(encodings[1][:2, 0], codes[:2])  # statistical_peaks block


def test_user_tables_and_their_errors(tmp_path):
    body = {
        "name": "mine",
        "attributes": ["order", "kind"],
        "classes": {"A": {"order": 2, "kind": "psk"}, "B": {"order": 4, "kind": "psk"}},
    }
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(body))
    table = load_attribute_table(str(path))
    assert table.codes(["A", "B"]).tolist() == [[1, 0, 1], [0, 1, 1]]
    with pytest.raises(KeyError, match="missing"):
        table.codes(["A", "C"])
    with pytest.raises(ValueError, match="identical"):
        table.select(["kind"])
    body["classes"]["B"] = {"order": 4}
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(ValueError, match="exactly the attributes"):
        load_attribute_table(str(path))
    with pytest.raises(FileNotFoundError):
        load_attribute_table(str(tmp_path / "none.yaml"))
