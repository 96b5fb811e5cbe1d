"""benchmarks.zsl_variants: variants from one base config, one comparison table."""

from __future__ import annotations

import json

import pytest
import yaml

from benchmarks import zsl_variants


def _spec(tmp_path, data, variants):
    base = {
        "data": data,
        "out": "unused",
        "groups": [1],
        "seeds": [0],
        "figures": False,
        "cnn": {"epochs": 1, "batch_size": 64},
        "semantic": {"mode": "attributes"},
        "gan": {"epochs": 1, "batch_size": 16},
        "classifier": {"epochs": 1, "synthetic_per_class": 5},
    }
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {"base": str(tmp_path / "base.yaml"), "out": str(tmp_path / "out"), "variants": variants}
    (tmp_path / "variants.yaml").write_text(yaml.safe_dump(spec))
    return str(tmp_path / "variants.yaml")


def test_each_variant_runs_and_the_table_has_every_method(tiny_sigzsl7, tmp_path):
    variants = {
        "table": {},
        "physics-aligned": {
            "attributes": "physics",
            "attribute_encoding": "value",
            "cnn_alignment": 1.0,
        },
    }
    path = _spec(tmp_path, tiny_sigzsl7, variants)
    zsl_variants.main(["--variants", path])
    out = tmp_path / "out"
    physics = json.loads(
        (out / "physics-aligned" / "group1" / "seed0" / "results.json").read_text()
    )
    assert physics["config"]["attributes"] == "physics" and physics["semantic_dim"] == 17
    assert physics["histories"]["feature_cnn"][0]["semantic_error"] >= 0  # the aligned CNN
    rows = json.loads((out / "comparison.json").read_text())["rows"]
    assert {(r["variant"], r["method"]) for r in rows} == {
        (v, m) for v in variants for m in zsl_variants.METHODS
    }
    ours = next(r for r in rows if r["variant"] == "physics-aligned" and r["method"] == "sigzslnet")
    assert ours["harmonic_mean"] == pytest.approx(physics["sigzslnet"]["harmonic_mean"])
    table = (out / "comparison.md").read_text()
    assert (
        "| group1 | physics-aligned | ESZSL | 1 |" in table
        and "| group1 | paper Table 5 |" in table
    )
    # --only reruns nothing else: the other variant's summary is read back
    (out / "table" / "group1" / "seed0" / "results.json").unlink()
    zsl_variants.main(["--variants", path, "--only", "physics-aligned"])
    assert not (out / "table" / "group1" / "seed0" / "results.json").exists()
    assert len(json.loads((out / "comparison.json").read_text())["rows"]) == len(rows)


def test_a_bad_variant_key_fails_before_any_run(tiny_sigzsl7, tmp_path, capsys):
    path = _spec(tmp_path, tiny_sigzsl7, {"typo": {"cnn_alignmnet": 1.0}})
    with pytest.raises(SystemExit):
        zsl_variants.main(["--variants", path])
    assert "variant 'typo'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
