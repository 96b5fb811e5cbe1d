"""engine.zsl.config: Table 4 and user groups, strict config keys, the shipped configs."""

from __future__ import annotations

import pytest

from engine.zsl import (
    ZslConfig,
    load_config,
    resolve_group,
)
from tests.engine.zsl.conftest import CLASSES


def test_table4_groups_and_user_groups():
    assert resolve_group(1, CLASSES).unseen == ("BPSK",)
    assert resolve_group(3, CLASSES).unseen == ("QPSK", "4ASK")
    group4 = resolve_group(4, CLASSES)
    assert group4.unseen == ("4ASK", "64QAM")  # Table 4, not the §3.1 sentence
    assert group4.seen == ("BPSK", "QPSK", "2ASK", "16QAM", "32QAM")
    mine = resolve_group({"name": "x", "seen": ["BPSK", "QPSK"], "unseen": ["64QAM"]}, CLASSES)
    assert mine.seen == ("BPSK", "QPSK")
    with pytest.raises(ValueError, match="no seen"):
        resolve_group({"seen": [], "unseen": CLASSES}, CLASSES)
    with pytest.raises(ValueError, match="no unseen"):
        resolve_group({"unseen": []}, CLASSES)
    with pytest.raises(KeyError, match="8PSK"):
        resolve_group({"unseen": ["8PSK"]}, CLASSES)
    with pytest.raises(ValueError, match="both seen and unseen"):
        resolve_group({"seen": ["BPSK"], "unseen": ["BPSK"]}, CLASSES)
    with pytest.raises(KeyError, match="Table 4"):
        resolve_group(5, CLASSES)


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    with pytest.raises(ValueError, match="bogus"):
        ZslConfig.from_dict({"data": "d", "out": "o", "gan": {"bogus": 1}})
    with pytest.raises(ValueError, match="mode"):
        ZslConfig.from_dict({"data": "d", "out": "o", "semantic": {"mode": "magic"}})
    config = ZslConfig.from_dict({"data": "d", "out": "o"}).replace(**{"gan.lr": 0.5})
    assert config.gan.lr == 0.5
    for name in ("zsl_groups", "zsl_quick", "zsl_cpu"):
        assert load_config(f"jobs/configs/{name}.yaml").data


def test_cnn_alignment_needs_a_feature_cnn_trained_in_process():
    with pytest.raises(ValueError, match="cnn_weights"):
        ZslConfig.from_dict(
            {"data": "d", "out": "o", "cnn_alignment": 1.0, "cnn_weights": "cnn.pt"}
        )
    with pytest.raises(ValueError, match="in-process"):
        ZslConfig.from_dict({"data": "d", "out": "o", "cnn_alignment": 1.0, "cnn": {"workers": 2}})
    assert ZslConfig.from_dict({"data": "d", "out": "o", "cnn_alignment": 1.0}).cnn_alignment == 1.0
