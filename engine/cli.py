"""The ``duse`` command."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import pickle
import signal
import sys
from collections.abc import Sequence

__all__ = ["main"]

log = logging.getLogger("duse")

# Errors a user can cause; anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, KeyError, FileExistsError, FileNotFoundError, pickle.UnpicklingError)
QUICKSTART = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "jobs/configs/quickstart.yaml"
)


def _user_errors() -> tuple[type[BaseException], ...]:
    from engine.training import TrainingDivergedError

    return (*USER_ERRORS, TrainingDivergedError)


def _data_generate(args: argparse.Namespace) -> int:
    from engine.data.generate import generate

    try:
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
    except Exception as err:  # Ray wraps a task's OSError in its own error
        full = _disk_full(err)
        if full is None or full.filename:
            raise
        # a write deep inside pyarrow or fsspec names no file: the output is what filled up
        raise OSError(full.errno, full.strerror or os.strerror(full.errno), args.out) from err
    print(f"wrote {meta.num_rows:,} frames in {len(meta.shards)} shards to {args.out}")
    return 0


def _data_convert(args: argparse.Namespace) -> int:
    from engine.data.loaders import convert

    options = {
        "overwrite": args.overwrite,
        "shard_bytes": int(args.shard_mib * 2**20),
        "progress": True,
    }
    if args.classes:
        options["classes"] = args.classes.split(",")
    if args.class_order:
        options["class_order"] = args.class_order
    for name in ("sample_rate_hz", "frame_length", "label_key", "snr_key"):
        if getattr(args, name) is not None:  # only what was given: npz takes no frame_length
            options[name] = getattr(args, name)
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
    from engine.data.splits import make_split, with_dataset
    from engine.data.store import read_index, read_meta

    meta = read_meta(args.uri)
    split = make_split(
        read_index(args.uri),
        meta.num_classes,
        test=args.test,
        target=args.target,
        snr_min_db=args.snr_min,
        snr_max_db=args.snr_max,
        seed=args.seed,
    )
    with_dataset(split, meta).save(args.out)
    print(json.dumps(split.summary()))
    return 0


def _ids(args: argparse.Namespace):
    """Ids of ``--split FILE --part NAME``, or every id of ``--data``."""
    import numpy as np

    from engine.data.splits import Split
    from engine.data.store import read_index

    if args.split is None:
        return read_index(args.data).ids
    from engine.data.splits import check_split_dataset
    from engine.data.store import read_meta

    split = Split.load(args.split)
    check_split_dataset(split, read_meta(args.data), f"split file {args.split}")
    return np.asarray(getattr(split, f"{args.part}_ids"))


def _train(args: argparse.Namespace) -> int:
    from engine.training import TrainConfig, fit

    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        seed=args.seed,
        workers=args.workers,
        use_gpu=args.gpu,
        val_fraction=args.val_fraction,
        patience=args.patience,
    )
    result = fit(args.model, args.data, _ids(args), config)
    result.save(args.out)
    last = result.history[-1]
    print(
        f"trained {args.model} for {last['epoch']} epochs: loss {last['loss']:.4f}, "
        f"train accuracy {last['accuracy']:.3f} -> {args.out}"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from engine.training import FitResult, evaluate

    metrics = evaluate(FitResult.load(args.weights), args.data, _ids(args))
    text = json.dumps(metrics, indent=2)
    if args.json:
        with open(args.json, "w") as handle:
            handle.write(text)
    print(f"accuracy {metrics['accuracy']:.4f} on {metrics['n']} frames")
    for snr, accuracy in metrics["per_snr"].items():
        print(f"  {snr:>6} dB  {accuracy:.3f}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The embedded default job: the quickstart benchmark (a small synthetic set, a reduced
    grid), its dataset summary, results table and report path."""
    import yaml

    from engine.benchmark import BenchmarkConfig
    from engine.data.info import dataset_info, format_info

    with open(args.config) as handle:
        values = yaml.safe_load(handle) or {}
    values.update(out=args.out, data=f"{args.out}/data")
    generate = dict(values.get("generate") or {})
    generate.update(
        {k: v for k, v in (("scale", args.scale), ("seed", args.seed)) if v is not None}
    )
    values["generate"] = generate or None
    config = BenchmarkConfig.from_dict(values)
    return _run_benchmark(config, before=lambda: print(format_info(dataset_info(config.data))))


def _run_benchmark(config, before=None) -> int:
    """Run the benchmark; print the table and the report path (exit 1 if trials failed)."""
    from engine.benchmark import run_benchmark

    logging.getLogger("engine").setLevel(logging.INFO)
    result = run_benchmark(config, on_prepared=before)
    print(result.table)
    if result.failed:
        print(f"{len(result.failed)} cell(s) failed; run the same command again to resume them")
    print(f"report: {result.report}")
    return 1 if result.failed else 0


def _benchmark(args: argparse.Namespace) -> int:
    """DUSE against the baselines: the (method x rate x seed) grid as Ray Tune trials."""
    from engine.benchmark import BenchmarkConfig

    overrides = {"out": args.out} if args.out else {}
    return _run_benchmark(BenchmarkConfig.from_yaml(args.config, **overrides))


def _scorers(args: argparse.Namespace) -> int:
    """List the registered scorers with what each needs."""
    from scorers._internal.listing import format_scorers

    print(format_scorers())
    return 0


def _expand_values(args: argparse.Namespace) -> dict:
    """The expand config as nested dicts: ``--config`` FILE, then the flags over it."""
    values = {}
    if args.config:
        import yaml

        with open(args.config) as handle:
            values = yaml.safe_load(handle) or {}
    flags = {
        "data": args.data,
        "target": args.target,
        "pool": args.pool,
        "test": args.test,
        "length_policy": args.length_policy,
        "pool_snr_min_db": args.pool_snr_min,
        "pool_snr_max_db": args.pool_snr_max,
        "out": args.out,
        "scorer": args.scorer,
        "model": args.model,
        "rounds": args.rounds,
        "balanced": args.balanced,
        "seed": args.seed,
    }
    values.update({key: value for key, value in flags.items() if value is not None})
    if args.class_map:
        values["class_map"] = {**(values.get("class_map") or {}), **_class_map(args.class_map)}
    if args.rate is not None or args.count is not None:
        values.update(rate=args.rate, count=args.count)
    if args.workers is not None or args.gpus:
        train = dict(values.get("train") or {})
        if args.workers is not None:
            train["workers"] = args.workers
        if args.gpus:
            train["use_gpu"] = True
        values["train"] = train
    if args.gpus or args.executor:
        scoring = dict(values.get("scoring") or {})
        if args.gpus:
            scoring.update(actors=args.gpus, gpus_per_actor=1.0)
        if args.executor:
            scoring["executor"] = args.executor
        values["scoring"] = scoring
    if "out" not in values or not ("data" in values or "target" in values):
        raise ValueError(
            "expand needs --out and either --data or --target with --pool (flags or keys of "
            "--config)"
        )
    return values


def _class_map(text: str) -> dict[str, str | None]:
    """``'A=B,C='`` -> ``{'A': 'B', 'C': None}``."""
    mapping = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        pool_name, sep, target_name = entry.partition("=")
        if not sep or not pool_name.strip():
            raise ValueError(f"--class-map entries look like POOL=TARGET, got {entry!r}")
        mapping[pool_name.strip()] = target_name.strip() or None
    return mapping


def _export(args: argparse.Namespace) -> int:
    """Write a run's expanded training set (target + selected) as a dataset or a file."""
    from engine.export import export_run

    summary = export_run(args.run_dir, args.out, format=args.format)
    print(
        f"exported {summary['frames']:,} frames ({summary['target']:,} target + "
        f"{summary['selected']:,} selected, {len(summary['classes'])} classes, "
        f"L={summary['length']}) as {summary['format']} -> {summary['out']}"
    )
    return 0


def _expand(args: argparse.Namespace) -> int:
    """Run or resume an expansion (the DUSE loop) from a YAML config and/or flags."""
    from engine.expansion import ExpandConfig, expand

    config = ExpandConfig.from_dict(_expand_values(args))
    logging.getLogger("engine").setLevel(logging.INFO)  # per-round and per-pass progress
    result = expand(config)
    final = result.metrics.get("final")
    accuracy = f", test accuracy {final['accuracy']:.4f}" if final else ""
    print(
        f"selected {len(result.selected_ids)} samples in {len(result.metrics['rounds'])} "
        f"round(s); target {result.metrics['final_target_size']}{accuracy} -> {result.run_dir}"
    )
    return 0


def _zsl(args: argparse.Namespace) -> int:
    """SigZSLNet: every group x seed of --config (or --group N), a Tune grid, or a search."""
    from engine.zsl import load_config, run_zsl, search_settings, tune_groups

    logging.getLogger("engine").setLevel(logging.INFO)  # per-stage and per-epoch progress
    overrides = {}
    if args.group is not None:
        overrides["groups"] = [args.group]
    if args.seeds:
        overrides["seeds"] = [int(seed) for seed in args.seeds.split(",")]
    if args.out:
        overrides["out"] = args.out
    config = load_config(args.config, **overrides)
    if args.search:
        found = search_settings(config, args.group or 1)
        print(f"best on validation H {found['best_val']['val_harmonic_mean']:.4f}: {found['best']}")
        return 0
    summary = (tune_groups if args.tune else run_zsl)(config)
    for name, entry in summary.items():
        if name == "runs":
            continue
        ours = entry["sigzslnet"]
        print(
            f"{name}: S {ours['seen_accuracy']['mean']:.4f} "
            f"U {ours['unseen_accuracy']['mean']:.4f} H {ours['harmonic_mean']['mean']:.4f} "
            f"accuracy {ours['accuracy']['mean']:.4f} "
            f"({entry['runs']} runs)"
        )
    print(f"results in {config.out}/summary.md")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duse", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the embedded default job (laptop-sized)")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--config", default=QUICKSTART, help="benchmark config YAML")
    demo.add_argument("--scale", type=float, help="dataset scale (default: the config's)")
    demo.add_argument("--seed", type=int, help="dataset seed (default: the config's)")
    demo.set_defaults(run=_demo)

    bench = commands.add_parser("benchmark", help="DUSE vs baselines: a Ray Tune grid + report")
    bench.add_argument("--config", required=True, help="benchmark YAML (docs/benchmark.md)")
    bench.add_argument("--out", help="output directory (default: the config's)")
    bench.set_defaults(run=_benchmark)

    train = commands.add_parser("train", help="train a classifier (in-process or Ray Train)")
    train.add_argument("--model", required=True)
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=256)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--val-fraction", type=float, default=0.0)
    train.add_argument("--patience", type=int)
    train.add_argument("--workers", type=int, default=0, help="Ray Train workers (0: here)")
    train.add_argument("--gpu", action="store_true", help="train on GPU(s)")
    train.add_argument("--out", required=True, help="weights file (path or URI)")
    train.set_defaults(run=_train, part="target")

    ev = commands.add_parser("evaluate", help="accuracy overall, per SNR, per class")
    ev.add_argument("--weights", required=True)
    ev.add_argument("--json", help="write the metrics JSON here")
    ev.set_defaults(run=_evaluate, part="test")

    for command in (train, ev):
        command.add_argument("--data", required=True)
        command.add_argument("--split", help="splits.json; default: every frame of --data")
        command.add_argument("--part", choices=("test", "target", "pool"))

    listing = commands.add_parser("scorers", help="list the registered scorers and their needs")
    listing.set_defaults(run=_scorers)

    grow = commands.add_parser("expand", help="expand a target set from the pool (DUSE loop)")
    grow.add_argument("--config", help="YAML run config (docs/expansion.md); flags override it")
    grow.add_argument("--data", help="one dataset, split into test / target / pool")
    grow.add_argument("--target", help="your own labelled target set (with --pool)")
    grow.add_argument("--pool", help="the auxiliary pool, another dataset (with --target)")
    grow.add_argument("--test", help="a separate test set (default: carved from --target)")
    grow.add_argument(
        "--class-map",
        help="pool class -> target class, e.g. 'GMSK=GFSK,AM-DSB-WC=AM-DSB' ('X=' excludes X)",
    )
    grow.add_argument(
        "--length-policy",
        choices=("error", "crop", "pad", "resample"),
        help="pool frames of another length (default: error)",
    )
    grow.add_argument("--pool-snr-min", type=float, help="keep pool frames with SNR >= this (dB)")
    grow.add_argument("--pool-snr-max", type=float, help="keep pool frames with SNR <= this (dB)")
    grow.add_argument("--out", help="run directory URI; an existing run of the config resumes")
    grow.add_argument("--scorer", help="registered scorer name (see `duse scorers`)")
    grow.add_argument("--model", help="architecture that scores the pool")
    grow.add_argument("--rate", type=float, help="budget as a fraction of the pool, (0, 1]")
    grow.add_argument("--count", type=int, help="budget as a number of samples")
    grow.add_argument("--rounds", type=int, help="T rounds (1: one-shot selection)")
    grow.add_argument("--balanced", action="store_true", default=None, help="per-class quotas")
    grow.add_argument("--seed", type=int)
    grow.add_argument("--workers", type=int, help="Ray Train workers per fit (0: in-process)")
    grow.add_argument("--gpus", type=int, help="GPUs: one scoring actor each; training on GPU")
    grow.add_argument("--executor", choices=("ray", "local"), help="scoring executor")
    grow.set_defaults(run=_expand)

    take = commands.add_parser("export", help="a run's expanded training set, for other tools")
    take.add_argument("run_dir", metavar="RUN", help="expansion run directory")
    take.add_argument("--out", required=True, help="dataset directory (parquet) or file")
    take.add_argument("--format", choices=("parquet", "npz", "hdf5"), default="parquet")
    take.set_defaults(run=_export)

    zsl = commands.add_parser("zsl", help="SigZSLNet zero-shot classification (groups, seeds)")
    zsl.add_argument("--config", required=True, help="ZSL run config YAML")
    zsl.add_argument("--group", type=int, help="run only Table 4 group N")
    zsl.add_argument("--seeds", help="comma-separated seeds (default: the config's)")
    zsl.add_argument("--out", help="output directory (default: the config's)")
    zsl.add_argument("--tune", action="store_true", help="groups x seeds as Tune trials")
    zsl.add_argument("--search", action="store_true", help="Tune search on a validation split")
    zsl.set_defaults(run=_zsl)

    data = commands.add_parser("data", help="generate, convert, inspect and split datasets")
    verbs = data.add_subparsers(dest="verb", required=True)

    gen = verbs.add_parser("generate", help="synthesise a profile")
    gen.add_argument("--profile", required=True)
    gen.add_argument("--scale", type=float, default=1.0)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True)
    gen.add_argument("--executor", choices=("ray", "local"), default="ray")
    gen.set_defaults(run=_data_generate)

    conv = verbs.add_parser(
        "convert", help="convert RML2016 pickle, RML2018 HDF5, npz or a SigMF recording"
    )
    conv.add_argument(
        "--from", dest="kind", required=True, choices=("rml2016", "rml2018", "npz", "sigmf")
    )
    conv.add_argument("src", help="the file (sigmf: the recording's .sigmf-meta)")
    conv.add_argument("--out", required=True)
    conv.add_argument("--classes", help="comma-separated class names in label order")
    conv.add_argument("--class-order", choices=("community", "legacy"), help="rml2018 columns")
    conv.add_argument(
        "--sample-rate-hz", type=float, help="sample rate to record (sigmf: core:sample_rate)"
    )
    conv.add_argument("--frame-length", type=int, help="sigmf: samples per frame L (required)")
    conv.add_argument("--label-key", help="sigmf: annotation key of the class (core:label)")
    conv.add_argument("--snr-key", help="sigmf: annotation key of the SNR in dB (default: none)")
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

    from engine._internal.cluster_cli import add_commands  # submit, status, logs, stop, cluster

    add_commands(commands)
    return parser


# A full disk or quota: one line naming the path, exit 1 (not a user error, not a bug).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM


def _disk_full(err: BaseException) -> OSError | None:
    """The ``OSError`` saying the disk (or quota) is full behind ``err``, if there is one.

    Ray re-raises a task's error as a ``RayTaskError`` whose ``cause`` is the original.
    """
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS:
            return err
        err = getattr(err, "cause", None) or err.__cause__ or err.__context__
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``duse`` command; returns the exit status.

    0: done; 1: a check failed (``verify``) or the disk is full; 2: a user error (the message
    on stderr); 130: interrupted (Ctrl-C); anything else is a bug and keeps its traceback.
    """
    try:
        args = _parser().parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(name)s: %(message)s",
        )
        return args.run(args)
    except KeyboardInterrupt as stop:
        print(
            f"duse: {'terminated' if isinstance(stop, Terminated) else 'interrupted'}",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    except _user_errors() as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"duse: error: {message}", file=sys.stderr)
        return 2
    except Exception as err:
        full = _disk_full(err)
        if full is None:
            raise
        where = full.filename or "the output"
        print(f"duse: error: {full.strerror or os.strerror(full.errno)}: {where}", file=sys.stderr)
        return 1


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so every ``with`` block (writers) cleans up."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def entry() -> None:
    """The console script: :func:`main`, then :func:`exit_process` with its status."""
    from engine._internal.process import exit_process

    signal.signal(signal.SIGTERM, _terminate)
    try:
        status = main()
    except KeyboardInterrupt:  # a second Ctrl-C while the first was being handled
        print("duse: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    exit_process(status)


if __name__ == "__main__":
    entry()
