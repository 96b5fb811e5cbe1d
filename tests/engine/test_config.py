"""engine.config: YAML 1.2 numbers, strict values, one-line errors naming the key, overrides,
JSON Schema and the to_dict / from_dict round trip of every config kind."""

from __future__ import annotations

import pytest
import yaml

from engine.benchmark import BenchmarkConfig
from engine.config import (
    KINDS,
    ConfigError,
    apply_overrides,
    config_kinds,
    json_schema,
    load_config,
    parse_scalar,
    read_yaml,
)
from engine.data.generate import GenerateConfig
from engine.expansion import ExpandConfig
from engine.training import TrainConfig
from engine.zsl import ZslConfig


def _yaml(tmp_path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_lr_written_1e_3_in_a_yaml_file_is_the_float_0_001(tmp_path):
    path = _yaml(tmp_path, "data: d\nout: o\ntrain:\n  lr: 1e-3\n  weight_decay: 1E-5\n")
    config = load_config(ExpandConfig, path)
    assert config.train.lr == 0.001 and isinstance(config.train.lr, float)
    assert config.train.weight_decay == 1e-5
    assert yaml.safe_load("1e-3") == "1e-3"  # PyYAML itself is left alone


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("train:\n  epochs: 2.5\n", "train.epochs: "),
        ("rate: true\n", "rate: "),
        ('train:\n  use_gpu: "no"\n', "train.use_gpu: "),
        ("count: 10.5\n", "count: "),
        ("rate: abc\n", "rate: "),
        ('count: "10"\n', "count: "),
        ("train:\n  epochs: ten\n", "train.epochs: "),
    ],
)
def test_a_value_of_the_wrong_kind_is_one_line_starting_with_its_key(tmp_path, text, start):
    path = _yaml(tmp_path, "data: d\nout: o\n" + text)
    with pytest.raises(ConfigError) as error:
        load_config(ExpandConfig, path)
    message = str(error.value)
    assert message.startswith(start) and "\n" not in message


def test_the_wrong_kind_message_says_what_was_expected_and_got():
    with pytest.raises(ConfigError) as error:
        ExpandConfig.from_dict({"data": "d", "out": "o", "train": {"lr": "1e-3", "epochs": 2.5}})
    assert str(error.value) == (
        "train.epochs: input should be a valid integer, got 2.5; "
        "train.lr: input should be a valid number, got '1e-3'"
    )


def test_an_integer_is_fine_for_a_float_and_a_bound_names_the_section():
    assert TrainConfig.from_dict({"lr": 1}).lr == 1.0
    with pytest.raises(ConfigError, match=r"^train\.epochs: bad training config epochs=0: "):
        ExpandConfig.from_dict({"data": "d", "out": "o", "train": {"epochs": 0}})


def test_a_yaml_syntax_error_is_one_line_naming_the_file_and_line(tmp_path):
    path = _yaml(tmp_path, "rounds: [1,\n  out: x\n")
    with pytest.raises(ConfigError) as error:
        load_config(ExpandConfig, path)
    message = str(error.value)
    assert message.startswith(f"{path}: not valid YAML: line ") and "\n" not in message


def test_a_yaml_list_as_the_file_is_one_line_naming_the_file(tmp_path):
    path = _yaml(tmp_path, "- 1\n- 2\n")
    with pytest.raises(ConfigError) as error:
        load_config(ExpandConfig, path)
    assert str(error.value) == f"{path}: a config file is a mapping of keys, got a list"


def test_a_missing_file_is_a_config_error_naming_it(tmp_path):
    path = str(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match=r"none\.yaml: cannot read the config file: no such"):
        read_yaml(path)


def test_unknown_keys_at_the_top_and_nested_are_named():
    with pytest.raises(ConfigError, match=r"^bogus: unknown expand config keys \['bogus'\]"):
        ExpandConfig.from_dict({"data": "d", "out": "o", "bogus": 1})
    with pytest.raises(ConfigError, match=r"^train\.lrr: unknown training config keys \['lrr'\]"):
        ExpandConfig.from_dict({"data": "d", "out": "o", "train": {"lrr": 1}})
    with pytest.raises(ConfigError, match=r"^methods\.0\.bogus: unknown method keys"):
        BenchmarkConfig.from_dict({"methods": [{"name": "a", "scorer": "b", "bogus": 1}]})


def test_load_config_layers_file_then_values_then_overrides(tmp_path):
    path = _yaml(tmp_path, "data: d\nout: o\nrounds: 3\ntrain:\n  epochs: 4\n")
    config = load_config(ExpandConfig, path, ["train.lr=1e-2", "rounds=2"], rounds=7, count=9)
    assert (config.rounds, config.count, config.train.epochs, config.train.lr) == (2, 9, 4, 0.01)


def test_apply_overrides_creates_nested_sections_and_leaves_the_input_alone():
    values = {"train": {"epochs": 3}, "out": "o"}
    result = apply_overrides(values, ["train.lr=1e-3", "scoring.executor=local", "a.b.c=null"])
    assert result == {
        "train": {"epochs": 3, "lr": 0.001},
        "out": "o",
        "scoring": {"executor": "local"},
        "a": {"b": {"c": None}},
    }
    assert values == {"train": {"epochs": 3}, "out": "o"}


@pytest.mark.parametrize("pair", ["train.epochs", "=3", "train..epochs=3", "out.x=1"])
def test_a_malformed_override_is_a_config_error(pair):
    with pytest.raises(ConfigError, match=r"KEY=VALUE|not a section"):
        apply_overrides({"out": "o"}, [pair])


def test_parse_scalar_reads_yaml_1_2():
    assert parse_scalar("1e-3") == 0.001 and parse_scalar(".5") == 0.5
    assert parse_scalar("1E5") == 100000.0 and parse_scalar("-2.5e-1") == -0.25
    assert parse_scalar("3") == 3 and isinstance(parse_scalar("3"), int)
    assert parse_scalar("abc") == "abc" and parse_scalar("null") is None
    assert parse_scalar("[1, 2]") == [1, 2] and parse_scalar("2001-12-14").year == 2001


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_json_schema_of_each_kind_carries_every_description(kind):
    schema = json_schema(kind)
    assert schema["additionalProperties"] is False
    sections = [schema, *schema.get("$defs", {}).values()]
    for section in sections:
        for name, prop in section["properties"].items():
            assert prop.get("description"), (kind, name)
    assert set(schema["properties"]) == {name for name in config_kinds()[kind].__pydantic_fields__}


def test_json_schema_of_an_unknown_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown config kind 'nope'"):
        json_schema("nope")


ROUND_TRIP = {
    "expand": {
        "target": "t",
        "pool": "p",
        "out": "o",
        "class_map": {"a": "b", "c": None},
        "length_policy": "crop",
        "count": 12,
        "split": {"test": 0.3},
        "train": {"epochs": 2, "lr": 0.01},
        "eval_train": {"epochs": 3},
        "scoring": {"executor": "local", "cpus_per_actor": 0.5},
        "scorer_params": {"order": "largest_first"},
    },
    "benchmark": {
        "data": "d",
        "out": "o",
        "generate": {"profile": "rml2016a", "scale": 0.1},
        "methods": ["margin", "duse", {"name": "r", "scorer": "random", "rounds": 2}],
        "rates": [0.05, 0.1],
        "seeds": [3],
        "eval_models": ["cnn1d", "cnn2d"],
        "duse_orders": ["largest_first"],
        "active_learning_ablation": True,
        "tune": {"max_concurrent_trials": 2},
    },
    "zsl": {
        "data": "d",
        "out": "o",
        "groups": [1, {"name": "x", "unseen": ["BPSK"]}],
        "seeds": [0, 1],
        "cnn": {"epochs": 2},
        "tune": {"space": {"gan.lr": [0.1, 0.2]}},
        "attribute_columns": ["order"],
    },
    "generate": {"profile": "rml2016a", "out": "o", "scale": 0.5, "executor": "local"},
    "train": {"epochs": 2, "patience": 2, "val_fraction": 0.1, "use_gpu": True},
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_to_dict_round_trips_through_from_dict_and_yaml(kind, tmp_path):
    cls = config_kinds()[kind]
    config = cls.from_dict(ROUND_TRIP[kind])
    body = config.to_dict()
    assert cls.from_dict(body) == config
    path = _yaml(tmp_path, yaml.safe_dump(body))  # plain lists and dicts: YAML-ready
    assert load_config(cls, path) == config
    assert cls.from_dict(body).to_dict() == body


def test_round_trip_keeps_tuples_and_resolved_rows():
    config = BenchmarkConfig.from_dict(ROUND_TRIP["benchmark"])
    assert config.rates == (0.05, 0.1) and config.eval_models == ("cnn1d", "cnn2d")
    assert [m.name for m in config.methods] == [
        "margin",
        "duse_largest_first",
        "duse_largest_first_no_al",
        "r",
    ]
    assert BenchmarkConfig.from_dict(config.to_dict()).methods == config.methods
    zsl = ZslConfig.from_dict(ROUND_TRIP["zsl"])
    assert (zsl.cnn.epochs, zsl.cnn.batch_size) == (2, 64)  # the feature CNN's defaults


def test_generate_config_needs_profile_and_out():
    with pytest.raises(ConfigError, match=r"^out: a required key is missing"):
        GenerateConfig.from_dict({"profile": "rml2016a"})
    config = GenerateConfig.from_dict({"profile": "rml2016a", "out": "o"})
    assert (config.scale, config.seed, config.shard_mib, config.executor) == (1.0, 0, 128, "ray")
