"""Ray job: DUSE against the baselines, the (method x rate x seed) grid as Ray Tune trials.

``python -m jobs.benchmark --config jobs/configs/benchmark_rml2016a.yaml [--out URI]``; the
keys are :class:`engine.benchmark.BenchmarkConfig`'s (docs/benchmark.md). The benchmark writes with
plain file APIs, so a remote ``out`` (``s3://...``) is written to a local directory first and
uploaded when the grid finishes (failed cells included: a rerun resumes them). On a cluster of
several nodes, give ``out`` on a shared filesystem instead: every trial writes its cell there.
Exit status 1 when cells failed, 2 for a bad config.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from engine._internal.process import exit_process
from jobs._internal import load_values, parse_arguments, run_job, staged_output

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit status (1: failed cells, 2: bad config)."""

    def body() -> int:
        from engine.benchmark import BenchmarkConfig, run_benchmark

        args = parse_arguments("benchmark", __doc__, argv)
        config = BenchmarkConfig.from_dict(load_values(args))
        with staged_output(config.out) as local_out:
            result = run_benchmark(replace(config, out=local_out))
            report = os.path.relpath(result.report, local_out)
        print(result.table)
        if result.failed:
            print(f"{len(result.failed)} cell(s) failed; submit the same job again to resume")
        print(f"report: {config.out.rstrip('/')}/{report}")
        return 1 if result.failed else 0

    return run_job(body)


if __name__ == "__main__":
    exit_process(main())
