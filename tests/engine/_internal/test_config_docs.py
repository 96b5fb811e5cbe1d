from engine._internal.config_docs import DOCS, key_table, refresh


def test_the_docs_key_tables_are_the_schemas():
    """Every doc's key table equals the one generated from its config's JSON Schema
    (refresh with ``python -m engine._internal.config_docs``)."""
    assert refresh(write=False) == []
    for kind in ("expand", "benchmark", "zsl", "train", "generate"):
        assert f"<!-- keys:{kind} -->\n{key_table(kind)}<!-- /keys:{kind} -->" in "".join(
            path.read_text() for path in DOCS.glob("*.md")
        )


def test_a_key_table_lists_nested_sections_with_types_bounds_and_defaults():
    table = key_table("expand")
    assert "| `rounds` | integer (>= 1) | `5` |" in table
    assert "| `train.lr` | number (> 0) | `0.001` |" in table
    assert "| `split.test` |" in table and "| `scoring.executor` |" in table
