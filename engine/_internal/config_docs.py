"""The docs' key references, generated from the configs' JSON Schema.

A doc holds a table between ``<!-- keys:KIND -->`` and ``<!-- /keys:KIND -->``;
``python -m engine._internal.config_docs`` rewrites every such table from
:func:`engine.config.json_schema`, and a test fails when one is out of date.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["DOCS", "key_table", "refresh"]

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"(<!-- keys:(\w+) -->\n)(.*?)(<!-- /keys:\2 -->)", re.S)


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        return "section"
    if "anyOf" in prop:
        kinds = [_type(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(kinds) + (" or null" if len(kinds) < len(prop["anyOf"]) else "")
    if "enum" in prop:
        return " / ".join(f"`{value}`" for value in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), defs)}"
    return {"object": "mapping"}.get(kind, kind)


def _bounds(prop: dict[str, Any]) -> str:
    marks = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    found = [f"{mark} {prop[key]}" for key, mark in marks.items() if key in prop]
    for option in prop.get("anyOf", []):
        found += [f"{mark} {option[key]}" for key, mark in marks.items() if key in option]
    return f" ({', '.join(found)})" if found else ""


def _rows(schema: dict[str, Any], defs: dict[str, Any], prefix: str) -> list[str]:
    rows, sections = [], []
    for name, prop in schema.get("properties", {}).items():
        ref = prop.get("$ref") or next(
            (p["$ref"] for p in prop.get("anyOf", []) if "$ref" in p), None
        )
        if "default" in prop:
            default = f"`{json.dumps(prop['default'])}`"
        else:
            default = "required" if name in schema.get("required", ()) else "(computed)"
        text = (prop.get("description") or "").replace("|", "\\|").replace("\n", " ")
        kind = "section" if ref else _type(prop, defs) + _bounds(prop)
        rows.append(f"| `{prefix}{name}` | {kind} | {default} | {text} |")
        if ref:
            sections.append((f"{prefix}{name}.", defs[ref.rsplit("/", 1)[-1]]))
    for section_prefix, section in sections:
        rows += _rows(section, defs, section_prefix)
    return rows


def key_table(kind: str) -> str:
    """The markdown table of every key of config ``kind`` (sections flattened as ``a.b``)."""
    from engine.config import json_schema

    schema = json_schema(kind)
    head = ["| key | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join(head + _rows(schema, schema.get("$defs", {}), "")) + "\n"


def refresh(write: bool) -> list[Path]:
    """The docs whose key tables are out of date (rewritten when ``write``)."""
    stale = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text()
        new = _BLOCK.sub(lambda m: m[1] + key_table(m[2]) + m[4], text)
        if new != text:
            stale.append(path)
            if write:
                path.write_text(new)
    return stale


if __name__ == "__main__":
    changed = refresh(write=True)
    print("rewrote " + ", ".join(p.name for p in changed) if changed else "key tables up to date")
    sys.exit(0)
