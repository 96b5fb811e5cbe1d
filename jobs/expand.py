"""Ray job: one expansion run (the DUSE loop or a one-shot baseline).

``python -m jobs.expand --config jobs/configs/expand_example.yaml [--out URI] [--set K=V]``;
the config keys are :class:`engine.expansion.ExpandConfig`'s (docs/expansion.md). The run
directory (``out``) may be any fsspec URI; on a cluster use shared or object storage.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine._internal.process import exit_process
from jobs._internal import load_values, parse_arguments, run_job

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit status (2: bad config)."""

    def body() -> int:
        from engine.expansion import ExpandConfig, expand

        args = parse_arguments("expand", __doc__, argv)
        result = expand(ExpandConfig.from_dict(load_values(args)))
        print(
            f"selected {len(result.selected_ids)} samples in {len(result.metrics['rounds'])} "
            f"round(s); target {result.metrics['final_target_size']} -> {result.run_dir}"
        )
        return 0

    return run_job(body)


if __name__ == "__main__":
    exit_process(main())
