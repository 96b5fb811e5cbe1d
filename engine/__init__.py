"""The selection engine: data, training, scoring, the DUSE loop, ZSL, tuning, reports, CLI."""

__all__: list[str] = []
