from pathlib import Path

import pytest
import yaml

from engine.data.store import read_meta
from jobs.generate import main

CONFIGS = Path(__file__).resolve().parents[2] / "jobs" / "configs"


def _config(tmp_path, **values):
    path = tmp_path / "generate.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_generate_job_writes_the_dataset_to_an_fsspec_uri(tmp_path, capsys):
    config = _config(tmp_path, profile="sigzsl7", out="unused", scale=0.01, executor="local")
    assert main(["--config", config, "--out", "memory://jobs-generate/ds", "--set", "seed=2"]) == 0
    meta = read_meta("memory://jobs-generate/ds")
    assert meta.num_rows == 7 * 11 * 4  # classes x SNRs x frames per key
    assert meta.source["seed"] == 2 and meta.source["profile"] == "sigzsl7"
    assert "wrote 308 frames" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"profile": "sigzsl7", "out": "memory://g/x", "colour": 1}, "colour: "),
        ({"out": "memory://g/y"}, "profile: a required key is missing"),
        ({"profile": "nope", "out": "memory://g/z", "executor": "local"}, "nope"),
    ],
)
def test_generate_job_bad_configs_exit_2(tmp_path, capsys, values, match):
    assert main(["--config", _config(tmp_path, **values)]) == 2
    assert match in capsys.readouterr().err


def test_shipped_generate_config_uses_only_known_keys():
    from engine.config import load_config
    from engine.data.generate import GenerateConfig

    config = load_config(GenerateConfig, str(CONFIGS / "generate_rml2016a.yaml"))
    assert config.profile == "rml2016a"
