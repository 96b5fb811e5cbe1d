"""Ray job: SigZSLNet over every group x seed of a config, in sequence or as Tune trials.

``python -m jobs.zsl --config jobs/configs/zsl_quick.yaml [--out URI] [--set K=V] [--tune]``;
the keys are :class:`engine.zsl.ZslConfig`'s (docs/zsl.md). The pipeline writes with plain
file APIs, so a remote ``out`` (``s3://...``) is written to a local directory first and
uploaded when the run finishes; ``data`` must be readable from every node.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine._internal.process import exit_process
from jobs._internal import load_values, parse_arguments, run_job, staged_output

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit status (2: bad config)."""

    def body() -> int:
        from engine.zsl import ZslConfig, run_zsl, tune_groups

        args = parse_arguments(
            "zsl",
            __doc__,
            argv,
            lambda parser: parser.add_argument(
                "--tune", action="store_true", help="groups x seeds as Ray Tune trials"
            ),
        )
        config = ZslConfig.from_dict(load_values(args))
        with staged_output(config.out) as local_out:
            summary = (tune_groups if args.tune else run_zsl)(config.replace(out=local_out))
        groups = [name for name in summary if name != "runs"]
        print(f"zsl groups {', '.join(groups)} -> {config.out}/summary.md")
        return 0

    return run_job(body)


if __name__ == "__main__":
    exit_process(main())
