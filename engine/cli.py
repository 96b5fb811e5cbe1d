"""The ``duse`` command."""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
from collections.abc import Sequence

__all__ = ["main"]

log = logging.getLogger("duse")

# Errors a user can cause; anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, KeyError, FileExistsError, FileNotFoundError, pickle.UnpicklingError)


def _data_generate(args: argparse.Namespace) -> int:
    from engine.data.generate import generate

    meta = generate(
        args.profile,
        args.out,
        scale=args.scale,
        seed=args.seed,
        shard_bytes=int(args.shard_mib * 2**20),
        overwrite=args.overwrite,
        executor=args.executor,
        progress=True,
    )
    print(f"wrote {meta.num_rows:,} frames in {len(meta.shards)} shards to {args.out}")
    return 0


def _data_convert(args: argparse.Namespace) -> int:
    from engine.data.loaders import convert

    options = {"overwrite": args.overwrite, "shard_bytes": int(args.shard_mib * 2**20),
               "progress": True}  # fmt: skip
    if args.classes:
        options["classes"] = args.classes.split(",")
    if args.class_order:
        options["class_order"] = args.class_order
    meta = convert(args.kind, args.src, args.out, **options)
    print(f"wrote {meta.num_rows:,} frames ({len(meta.classes)} classes) to {args.out}")
    return 0


def _data_info(args: argparse.Namespace) -> int:
    from engine.data.info import dataset_info, format_info

    info = dataset_info(args.uri)
    print(json.dumps(info) if args.json else format_info(info))
    return 0


def _data_verify(args: argparse.Namespace) -> int:
    from engine.data.store import verify

    problems = verify(args.uri)
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        return 1
    print(f"ok: {args.uri}")
    return 0


def _data_split(args: argparse.Namespace) -> int:
    from engine.data.splits import make_split
    from engine.data.store import read_index, read_meta

    split = make_split(
        read_index(args.uri),
        read_meta(args.uri).num_classes,
        test=args.test,
        target=args.target,
        snr_min_db=args.snr_min,
        snr_max_db=args.snr_max,
        seed=args.seed,
    )
    split.save(args.out)
    print(json.dumps(split.summary()))
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The embedded default job: a small synthetic set, its summary and a split."""
    from engine.data.generate import generate
    from engine.data.info import dataset_info, format_info
    from engine.data.splits import make_split
    from engine.data.store import read_index

    data = f"{args.out}/data"
    generate("rml2016a", data, scale=args.scale, seed=args.seed, overwrite=True, progress=True)
    print(format_info(dataset_info(data)))
    split = make_split(read_index(data), 11, test=0.2, target=0.05, seed=args.seed)
    split.save(f"{args.out}/splits.json")
    print(f"split    {split.summary()} -> {args.out}/splits.json")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duse", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the embedded default job (laptop-sized)")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--scale", type=float, default=0.02)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_demo)

    data = commands.add_parser("data", help="generate, convert, inspect and split datasets")
    verbs = data.add_subparsers(dest="verb", required=True)

    gen = verbs.add_parser("generate", help="synthesise a profile")
    gen.add_argument("--profile", required=True)
    gen.add_argument("--scale", type=float, default=1.0)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True)
    gen.add_argument("--executor", choices=("ray", "local"), default="ray")
    gen.set_defaults(run=_data_generate)

    conv = verbs.add_parser("convert", help="convert RML2016 pickle, RML2018 HDF5 or npz")
    conv.add_argument("--from", dest="kind", required=True, choices=("rml2016", "rml2018", "npz"))
    conv.add_argument("src")
    conv.add_argument("--out", required=True)
    conv.add_argument("--classes", help="comma-separated class names (npz)")
    conv.add_argument("--class-order", choices=("community", "legacy"), help="rml2018 columns")
    conv.set_defaults(run=_data_convert)

    for command in (gen, conv):
        command.add_argument("--overwrite", action="store_true")
        command.add_argument("--shard-mib", type=float, default=128.0)

    info = verbs.add_parser("info", help="classes, counts per class and SNR, size")
    info.add_argument("uri")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=_data_info)

    ver = verbs.add_parser("verify", help="check shard checksums and schema")
    ver.add_argument("uri")
    ver.set_defaults(run=_data_verify)

    split = verbs.add_parser("split", help="test / target / pool id lists")
    split.add_argument("uri")
    split.add_argument("--out", required=True, help="splits.json path or URI")
    split.add_argument("--test", type=float, default=0.2)
    split.add_argument("--target", type=float, default=0.01)
    split.add_argument("--snr-min", type=float)
    split.add_argument("--snr-max", type=float)
    split.add_argument("--seed", type=int, default=0)
    split.set_defaults(run=_data_split)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``duse`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    try:
        return args.run(args)
    except USER_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"duse: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
