import re
from dataclasses import asdict, dataclass

import pytest
import yaml

from engine._internal.resume import check_resumable, config_differences, stored_config


@dataclass(frozen=True)
class _Config:
    data: str
    out: str = "o"
    epochs: int = 1

    @classmethod
    def from_dict(cls, values: dict) -> "_Config":
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


def test_differences_are_the_keys_one_side_lacks_or_that_differ_apart_from_the_free_ones():
    stored = {"data": "d", "out": "a", "epochs": 1, "gone": 0}
    current = {"data": "d", "out": "b", "epochs": 2, "new": 0}
    assert config_differences(stored, current, ("out",)) == ["epochs", "gone", "new"]
    assert config_differences(stored, stored, ()) == []


def test_check_resumable_resumes_starts_or_refuses():
    current = {"data": "d", "out": "b", "epochs": 2}
    assert check_resumable("/runs/x", None, current, ("out",)) is False
    assert check_resumable("/runs/x", {**current, "out": "a"}, current, ("out",)) is True
    message = (
        "/runs/x holds a run with a different config (keys ['epochs'] differ); "
        "resume with the same config or choose another --out"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        check_resumable("/runs/x", {**current, "epochs": 1}, current, ("out",))


def test_stored_config_fills_new_defaults_and_keeps_an_unreadable_one_as_stored(tmp_path):
    assert stored_config(str(tmp_path), _Config.from_dict) is None
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"data": "d"}))
    assert stored_config(str(tmp_path), _Config.from_dict) == {"data": "d", "out": "o", "epochs": 1}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"data": "d", "retired": 1}))
    assert stored_config(str(tmp_path), _Config.from_dict) == {"data": "d", "retired": 1}
    (tmp_path / "config.yaml").write_text("just text\n")
    assert stored_config(str(tmp_path), _Config.from_dict) == {}
