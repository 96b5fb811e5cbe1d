import numpy as np
import pytest

from engine.data.classes import align_classes, canonical_name
from engine.data.profiles import PROFILES


@pytest.mark.parametrize(
    ("spellings", "canonical"),
    [
        (["QAM16", "16QAM", "16-QAM", "qam_16", "QAM-16"], "16QAM"),
        (["8PSK", "PSK8", "8psk", "PSK-8"], "8PSK"),
        (["BPSK", "2PSK", "bpsk"], "BPSK"),
        (["QPSK", "4PSK", "PSK4", "4QAM"], "QPSK"),
        (["PAM4", "4PAM", "4-PAM"], "4PAM"),
        (["AM-DSB", "AMDSB", "am_dsb"], "AM-DSB"),
        (["AM-SSB-WC", "am-ssb-wc"], "AM-SSB-WC"),
        (["32APSK", "APSK32"], "32APSK"),
    ],
)
def test_every_spelling_has_one_canonical_name(spellings, canonical):
    assert {canonical_name(name) for name in spellings} == {canonical}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("GFSK", "GMSK"),
        ("OOK", "2ASK"),
        ("4PAM", "4ASK"),
        ("CPFSK", "2FSK"),
        ("WBFM", "FM"),
        ("AM-DSB", "AM-DSB-SC"),
        ("AM-DSB-WC", "AM-DSB-SC"),
        ("OQPSK", "QPSK"),
        ("16APSK", "16QAM"),
    ],
)
def test_different_modulations_are_never_equated(first, second):
    assert canonical_name(first) != canonical_name(second)


def test_profiles_spell_each_of_their_classes_once():
    for profile in PROFILES.values():
        names = [canonical_name(name) for name in profile.classes]
        assert len(set(names)) == len(names), profile.name


def test_rml2016_target_and_rml2018_pool_align_by_name():
    target = PROFILES["rml2016a"].classes
    pool = PROFILES["rml2018a"].classes
    alignment = align_classes(target, pool)
    mapped = {pair["pool"]: pair["target"] for pair in alignment.pairs()}
    assert mapped == {
        "BPSK": "BPSK",
        "QPSK": "QPSK",
        "8PSK": "8PSK",
        "16QAM": "QAM16",
        "64QAM": "QAM64",
    }
    assert {p["how"] for p in alignment.pairs() if p["pool"] == "16QAM"} == {"alias"}
    assert "GMSK" in alignment.excluded and "AM-DSB-WC" in alignment.excluded
    assert alignment.missing == ["AM-DSB", "AM-SSB", "CPFSK", "GFSK", "PAM4", "WBFM"]
    assert alignment.pool_to_target[pool.index("16QAM")] == target.index("QAM16")


def test_class_map_joins_excludes_and_overrides():
    target = ["BPSK", "GFSK", "AM-DSB"]
    pool = ["2PSK", "GMSK", "AM-DSB-WC", "AM-DSB-SC", "BPSK"]
    alignment = align_classes(
        target, pool, {"GMSK": "GFSK", "AM-DSB-WC": "AM-DSB", "AM-DSB-SC": "AM-DSB", "BPSK": None}
    )
    np.testing.assert_array_equal(alignment.pool_to_target, [0, 1, 2, 2, -1])
    assert alignment.how == ("alias", "class_map", "class_map", "class_map", "excluded")
    assert alignment.excluded == ["BPSK"] and alignment.missing == []


@pytest.mark.parametrize(
    ("target", "class_map", "match"),
    [
        (["BPSK", "QPSK"], {"FM": "BPSK"}, "pool class 'FM'"),
        (["BPSK", "QPSK"], {"BPSK": "8PSK"}, "target class '8PSK'"),
        (["QAM16", "16QAM"], {}, "same modulation"),
        (["BPSK", "QPSK"], {"BPSK": 3}, "must be names"),
    ],
)
def test_bad_class_maps_are_one_line_errors(target, class_map, match):
    with pytest.raises(ValueError, match=match):
        align_classes(target, ["BPSK", "QPSK"], class_map)
