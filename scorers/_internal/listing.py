"""The text of ``duse scorers``: one row per registered scorer."""

from __future__ import annotations

from scorers._internal.registry import available

__all__ = ["format_scorers"]


def format_scorers() -> str:
    """A table of every scorer: name, kind, needs and the first docstring line.

    Returns:
        Aligned plain-text columns with a header, one scorer per line, no trailing newline.
    """
    rows = [("NAME", "KIND", "NEEDS", "DESCRIPTION")]
    for info in available():
        rows.append((info.name, info.kind, ",".join(info.needs.names()) or "-", info.doc))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ).rstrip()
