"""engine.zsl.semantics: cumulants and physics vectors from constellations, and their wiring."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from engine.cli import main
from engine.zsl import AttributeTable, ZslConfig, load_attribute_table, load_config, pipeline
from engine.zsl.semantics import (
    PHYSICS_ATTRIBUTES,
    class_constellation,
    constellation_points,
    cumulants,
    physics_features,
    physics_table,
    physics_vector,
)
from tests.engine.zsl.conftest import CLASSES

S = 1 / np.sqrt(2)
QAM16 = [[i, q] for i in (-3, -1, 1, 3) for q in (-3, -1, 1, 3)]
PSK8 = [[np.cos(k * np.pi / 4), np.sin(k * np.pi / 4)] for k in range(8)]

# Moments M_pq = E[x^(p-q) x*^q] at unit power, worked by hand:
# BPSK ±1: every M_pq = 1, so C40 = 1 - 3, C42 = 1 - 1 - 2, C60 = 1 - 15 + 30,
#   C61 = 1 - 5 - 10 + 30, C62 = 1 - 6 - 8 - 1 + 6 + 24, C63 = 1 - 9 + 12 - 3 - 3 + 18.
# π/4 QPSK: x² = ±j, x⁴ = -1: M20 = M41 = M60 = M62 = 0, M40 = M61 = -1, M42 = M63 = 1;
#   C40 = -1, C42 = -1, C61 = -1 + 5, C63 = 1 - 9 + 12. Axis-aligned QPSK: M40 = M61 = +1.
# 8PSK: E[x²] = E[x⁴] = E[x⁶] = 0, so only C42 = 1 - 2 and C63 = 1 - 9 + 12 remain.
# 16QAM {±1, ±3}²/√10: E[i⁴] = 41, E[i²q²] = 25, E|x|⁴ = (4·4 + 8·100 + 4·324)/16 = 132,
#   E|x|⁶ = (4·8 + 8·1000 + 4·5832)/16 = 1960, E[x⁴|x|²] = 2·365 - 10·41·5 = -1320:
#   M40 = (41 + 41 - 6·25)/100 = -0.68, M42 = 1.32, M61 = -1.32, M63 = 1.96;
#   C42 = 1.32 - 2, C61 = -1.32 + 5·0.68, C63 = 1.96 - 9·1.32 + 12.
HAND = {
    "BPSK": (
        [[1, 0], [-1, 0]],
        dict(C20=1, C40=-2, C41=-2, C42=-2, C60=16, C61=16, C62=16, C63=16),
    ),
    "QPSK": (
        [[S, S], [-S, S], [-S, -S], [S, -S]],
        dict(C20=0, C40=-1, C41=0, C42=-1, C60=0, C61=4, C62=0, C63=4),
    ),
    "QPSK0": (
        [[1, 0], [0, 1], [-1, 0], [0, -1]],
        dict(C20=0, C40=1, C41=0, C42=-1, C60=0, C61=-4, C62=0, C63=4),
    ),
    "8PSK": (PSK8, dict(C20=0, C40=0, C41=0, C42=-1, C60=0, C61=0, C62=0, C63=4)),
    "16QAM": (QAM16, dict(C20=0, C40=-0.68, C41=0, C42=-0.68, C60=0, C61=2.08, C62=0, C63=2.08)),
}


@pytest.mark.parametrize("name", HAND)
def test_cumulants_match_hand_computed_values(name):
    points, expected = HAND[name]
    got = cumulants(constellation_points(points))
    assert got["C21"] == pytest.approx(1, abs=1e-12)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.parametrize(
    ("name", "kind"), [("BPSK", "bpsk"), ("QPSK", "qpsk"), ("8PSK", "8psk"), ("16QAM", "16qam")]
)
def test_the_generators_constellations_give_the_same_cumulants(name, kind):
    got, hand = cumulants(constellation_points(kind)), HAND[name][1]
    for key, value in hand.items():
        assert abs(got[key]) == pytest.approx(abs(value), abs=1e-6), key


@pytest.mark.parametrize(
    "kind", ["bpsk", "qpsk", "8psk", "16qam", "32qam", "2ask", "4pam", "16apsk"]
)
def test_rotation_and_scale_leave_the_vector_unchanged(kind):
    points = constellation_points(kind)
    for turn, scale in ((0.3, 3.7), (np.pi / 5, 0.01), (2.0, 1.0)):
        moved = points * scale * np.exp(1j * turn)
        np.testing.assert_allclose(physics_vector(moved), physics_vector(points), atol=1e-6)
        c, d = cumulants(points), cumulants(moved)
        assert d["C40"] == pytest.approx(c["C40"] * np.exp(4j * turn), abs=1e-9)  # p - 2q = 4
        assert d["C42"] == pytest.approx(c["C42"], abs=1e-9)


def test_points_are_scaled_to_unit_power():
    np.testing.assert_allclose(constellation_points([[3, 0], [-3, 0]]), [1, -1])
    for spec in (QAM16, "64qam", ("pam", 4), {"family": "apsk", "order": 16}):
        assert np.mean(np.abs(constellation_points(spec)) ** 2) == pytest.approx(1)
    uneven = cumulants(np.array([1, -1, 1j, -1j]), weights=[1, 1, 1, 1])
    assert uneven["C42"] == pytest.approx(-1)


def test_levels_papr_and_flags_match_the_sigzsl7_table():
    table = load_attribute_table("sigzsl7")
    for name in CLASSES:
        row = dict(zip(table.attributes, table.rows[name], strict=True))
        got = physics_features(class_constellation(name))
        assert got["amplitude_levels"] == row["amplitude_levels"], name
        assert got["phase_levels"] == row["phase_levels"], name
        assert bool(got["phase_modulation"]) == row["phase_modulation"], name
        assert bool(got["amplitude_modulation"]) == row["amplitude_modulation"], name
        if name != "2ASK":  # the seed's 4 "statistical peaks" of 2ASK are not derivable
            assert got["axis_levels"] == row["statistical_peaks"], name
        assert 2 ** got["bits_per_symbol"] == pytest.approx(row["order"]), name
    qam = physics_features("16qam")
    assert qam["papr"] == pytest.approx(1.8) and qam["real"] == 0.0 and qam["dc"] == 0.0
    assert physics_features("2ask")["dc"] == pytest.approx(S)
    assert physics_features("4pam")["real"] == 1.0 and physics_features("8psk")["axis_levels"] == 4


def test_yaml_constellations_in_every_form():
    body = yaml.safe_load(
        """
        A: [[1, 0], [0, 1], [-1, 0], [0, -1]]
        B: {family: psk, order: 8}
        C: {family: apsk, rings: [[4, 1.0, 0.785398], [12, 2.85, 0.261799]]}
        D: 16apsk
        """
    )
    np.testing.assert_allclose(constellation_points(body["A"]), [1, 1j, -1, -1j], atol=1e-12)
    np.testing.assert_allclose(constellation_points(body["B"]), constellation_points("8psk"))
    np.testing.assert_allclose(physics_vector(body["C"]), physics_vector(body["D"]), atol=1e-5)
    assert len(constellation_points(("qam", 32))) == 32
    assert physics_vector(body["A"]).shape == (len(PHYSICS_ATTRIBUTES),)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "none"),
        ([[np.nan, 0], [1, 0]], "finite"),
        ([[1, 0], [np.inf, 0]], "finite"),
        ([[0, 0], [0, 0]], "all zero"),
        ([[1, 0], [1, 0]], "distinct"),
        ([[1, 0]], "distinct"),
        ([[1, 0, 2]], r"\[re, im\]"),
        ([["a", "b"]], r"\[re, im\]"),
        ({"family": "fsk", "order": 4}, "family"),
        ({"family": "psk", "order": 1}, ">= 2"),
        ({"family": "qam", "order": 12}, "qam"),
        ({"family": "apsk", "order": 24}, "apsk"),
        ({"family": "apsk", "rings": [[4, 1.0]]}, "rings"),
        ("99xyz", "unknown constellation"),
    ],
)
def test_bad_constellations_are_one_line_value_errors(spec, message):
    with pytest.raises(ValueError, match=message) as error:
        constellation_points(spec)
    assert "\n" not in str(error.value)


def test_bpsk_and_qpsk_get_distinct_vectors_where_the_seed_table_collides():
    with pytest.raises(ValueError, match="identical"):
        load_attribute_table("sigzsl7_paper")  # BPSK and QPSK rows are equal
    assert not np.allclose(physics_vector("bpsk"), physics_vector("qpsk"))
    table = physics_table(CLASSES)
    assert table.attributes == PHYSICS_ATTRIBUTES and len(set(table.rows.values())) == 7
    for encoding in ("value", "onehot", "thermometer"):
        vectors = table.vectors(CLASSES, encoding)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
        assert (vectors @ vectors.T - 2 * np.eye(7)).max() < 1 - 1e-3
    assert table.vectors(CLASSES, "value").shape == (7, len(PHYSICS_ATTRIBUTES))
    assert table.description_encodings(CLASSES, "value").shape[:2] == (7, 1)


def test_class_names_map_to_the_generators_constellations():
    np.testing.assert_allclose(class_constellation("QAM16"), class_constellation("16QAM"))
    np.testing.assert_allclose(class_constellation("8PSK"), constellation_points("8psk"))
    np.testing.assert_allclose(class_constellation("OQPSK"), class_constellation("QPSK"))
    with pytest.raises(KeyError, match=r"GFSK.*cpm.*constellations"):
        class_constellation("GFSK")
    with pytest.raises(KeyError, match="MYMOD"):
        physics_table(["BPSK", "MYMOD"])
    mine = {"MYMOD": [[1, 0], [0, 1], [-1, 0], [0, -1], [0.5, 0]]}
    assert physics_table(["BPSK", "MYMOD"], mine).rows["MYMOD"] == tuple(
        round(float(v), 6) + 0.0 for v in physics_vector(mine["MYMOD"])
    )
    with pytest.raises(ValueError, match=r"QPSK.*OQPSK.*identical"):
        physics_table(["QPSK", "OQPSK"])
    text = AttributeTable("t", ("order", "kind"), {"A": (2, "psk"), "B": (4, "psk")})
    with pytest.raises(ValueError, match="'kind' holds 'psk'; the 'value' encoding takes numbers"):
        text.codes(["A"], "value")
    table = load_attribute_table("sigzsl7")
    assert table.codes(["QPSK"], "value")[0].tolist()[3] == 4.0  # order


def test_the_config_option_parses_and_selects_the_physics_table():
    base = {"data": "d", "out": "o", "attributes": "physics", "attribute_encoding": "value"}
    config = ZslConfig.from_dict(
        {**base, "constellations": {"MYMOD": {"family": "psk", "order": 16}}}
    )
    assert config.constellations == {"MYMOD": {"family": "psk", "order": 16}}
    table = pipeline.load_table(config, [*CLASSES, "MYMOD"])
    assert table.name == "physics" and "MYMOD" in table.rows
    assert pipeline.load_table(config.replace(attribute_columns=["c42", "c63", "dc"]), CLASSES)
    with pytest.raises(ValueError, match=r"QPSK.*2ASK.*identical"):  # both C42 -1, C63 4
        pipeline.load_table(config.replace(attribute_columns=["c42", "c63"]), CLASSES)
    with pytest.raises(ValueError, match="constellations need attributes: physics"):
        ZslConfig.from_dict({"data": "d", "out": "o", "constellations": {"X": "8psk"}})
    with pytest.raises(ValueError, match=r"constellation of 'X'.*finite"):
        ZslConfig.from_dict({**base, "constellations": {"X": [[1, 0], [np.nan, 0]]}})
    assert ZslConfig.from_dict({"data": "d", "out": "o"}).attributes == "sigzsl7"  # default
    shipped = load_config("jobs/configs/zsl_physics.yaml")
    assert shipped.attributes == "physics" and shipped.attribute_encoding == "value"


def test_end_to_end_with_physics_semantics(tiny_sigzsl7, tmp_path):
    """duse zsl with attributes: physics and a user constellation (4ASK given as points)."""
    config = {
        "data": tiny_sigzsl7,
        "out": str(tmp_path / "out"),
        "attributes": "physics",
        "attribute_encoding": "value",
        "constellations": {"4ASK": [[0, 0], [1, 0], [2, 0], [3, 0]]},
        "groups": [{"name": "phys", "unseen": ["4ASK"]}],
        "figures": False,
        "cnn": {"epochs": 1, "batch_size": 64},
        "semantic": {"mode": "attributes"},
        "gan": {"epochs": 1, "batch_size": 16, "critic_steps": 1},
        "classifier": {"epochs": 1, "synthetic_per_class": 5},
    }
    path = tmp_path / "zsl.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["zsl", "--config", str(path)]) == 0
    results = json.loads((tmp_path / "out" / "phys" / "seed0" / "results.json").read_text())
    assert results["semantic_dim"] == len(PHYSICS_ATTRIBUTES)
    assert 0.0 <= results["sigzslnet"]["harmonic_mean"] <= 1.0
