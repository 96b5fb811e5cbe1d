"""Thin Ray job entrypoints (parse a config, call one engine function, exit).

Not built yet: see the Ray jobs issue and docs/architecture.md.
"""

__all__: list[str] = []
