"""Ray job: synthesise a dataset profile into the canonical format.

``python -m jobs.generate --config jobs/configs/generate_rml2016a.yaml [--out URI]``. Keys:
``profile``, ``out`` (any fsspec URI), ``scale``, ``seed``, ``shard_mib``, ``overwrite`` and
``executor`` (``ray``: one task per shard across the cluster, or ``local``); unknown keys are
errors.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine._internal.process import exit_process
from jobs._internal import load_values, parse_arguments, run_job

__all__ = ["main"]

KEYS = ("profile", "out", "scale", "seed", "shard_mib", "overwrite", "executor")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit status (2: bad config)."""

    def body() -> int:
        from engine.data.generate import generate

        args = parse_arguments("generate", __doc__, argv)
        values = load_values(args)
        unknown = set(values) - set(KEYS)
        if unknown:
            raise KeyError(f"unknown generate config keys {sorted(unknown)}; known: {list(KEYS)}")
        if "profile" not in values or "out" not in values:
            raise ValueError("a generate config needs `profile` and `out`")
        meta = generate(
            values["profile"],
            values["out"],
            scale=values.get("scale", 1.0),
            seed=values.get("seed", 0),
            shard_bytes=int(values.get("shard_mib", 128) * 2**20),
            overwrite=values.get("overwrite", False),
            executor=values.get("executor", "ray"),
        )
        print(f"wrote {meta.num_rows:,} frames in {len(meta.shards)} shards to {values['out']}")
        return 0

    return run_job(body)


if __name__ == "__main__":
    exit_process(main())
