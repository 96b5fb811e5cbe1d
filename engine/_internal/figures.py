"""Saving the matplotlib figures of the reports (benchmark and ZSL)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from engine._internal.atomic import write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["save_png"]

DPI = 110


def save_png(figure: Figure, uri: str) -> None:
    """Lay ``figure`` out tightly and write it as a PNG to ``uri`` atomically (:func:`write_bytes`).

    Args:
        figure: a matplotlib figure (no pyplot needed).
        uri: the file to write, a local path or any fsspec URI.
    """
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    write_bytes(uri, buffer.getbuffer())
