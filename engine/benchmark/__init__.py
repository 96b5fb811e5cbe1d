"""The benchmark: DUSE against the coreset baselines as a Ray Tune grid (docs/benchmark.md).

- :mod:`~engine.benchmark.config`: :class:`BenchmarkConfig` (methods x rates x seeds).
- :mod:`~engine.benchmark.grid`: :func:`run_benchmark`, one Tune trial per cell, with resume.
- :mod:`~engine.benchmark.tsne`: the reference model and t-SNE map of the expanded sets.
- :mod:`~engine.benchmark.report`: aggregation and ``results.md/.csv/.json``.
- :mod:`~engine.benchmark.figures`: the PNG figures (no training, no Ray).
- :mod:`~engine.benchmark.paper`: the DUSE paper's reported numbers.
"""

from engine.benchmark.config import (
    BASELINES,
    DEFAULT_RATES,
    BenchmarkConfig,
    GenerateSpec,
    MethodSpec,
    TuneSpec,
    sources_of,
    validate,
)
from engine.benchmark.grid import BenchmarkResult, cell_dir, eval_seed, run_benchmark, run_cell
from engine.benchmark.report import paper_value, write_report

__all__ = [
    "BASELINES",
    "DEFAULT_RATES",
    "BenchmarkConfig",
    "BenchmarkResult",
    "GenerateSpec",
    "MethodSpec",
    "TuneSpec",
    "cell_dir",
    "eval_seed",
    "paper_value",
    "run_benchmark",
    "run_cell",
    "sources_of",
    "validate",
    "write_report",
]
