"""Scorer plugin API and the built-in scorers (DUSE and the coreset baselines).

Not built yet: see the scorer issue and docs/architecture.md.
"""

__all__: list[str] = []
