"""The ``duse`` command."""

from __future__ import annotations

import argparse
import errno
import json
import os
import pickle
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace

from engine._internal.cli_config import add_config_arguments, config_from_args
from engine.config import KINDS

__all__ = ["main"]

# Errors a user can cause (a bad config, value or file): one line, exit 2. Anything else is a
# bug, or a failing disk (EIO), and keeps its traceback.
USER_ERRORS = (
    ValueError,
    KeyError,
    FileExistsError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    pickle.UnpicklingError,
)
QUICKSTART = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "jobs/configs/quickstart.yaml"
)


def _user_errors() -> tuple[type[BaseException], ...]:
    from engine.training import TrainingDivergedError

    return (*USER_ERRORS, TrainingDivergedError)


def _data_generate(args: argparse.Namespace) -> int:
    from engine.data.generate import GenerateConfig, generate

    config = config_from_args(GenerateConfig, args)
    try:
        meta = generate(
            config.profile,
            config.out,
            scale=config.scale,
            seed=config.seed,
            shard_bytes=int(config.shard_mib * 2**20),
            overwrite=config.overwrite,
            executor=config.executor,
            progress=True,
        )
    except Exception as err:  # Ray wraps a task's OSError in its own error
        full = _disk_full(err)
        if full is None or full.filename:
            raise
        # a write deep inside pyarrow or fsspec names no file: the output is what filled up
        raise OSError(full.errno, full.strerror or os.strerror(full.errno), config.out) from err
    print(f"wrote {meta.num_rows:,} frames in {len(meta.shards)} shards to {config.out}")
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

    config = config_from_args(TrainConfig, args)
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
    if args.json:
        from engine._internal.atomic import write_json

        write_json(args.json, metrics, indent=2)
    print(f"accuracy {metrics['accuracy']:.4f} on {metrics['n']} frames")
    for snr, accuracy in metrics["per_snr"].items():
        print(f"  {snr:>6} dB  {accuracy:.3f}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The embedded default job: the quickstart benchmark (a small synthetic set, a reduced
    grid), its dataset summary, results table and report path."""
    from engine.benchmark import BenchmarkConfig
    from engine.config import load_config
    from engine.data.info import dataset_info, format_info

    given = (("scale", args.scale), ("seed", args.seed))
    generate = [f"generate.{key}={value}" for key, value in given if value is not None]
    config = load_config(
        BenchmarkConfig,
        args.config,
        [*generate, *args.overrides],
        out=args.out,
        data=f"{args.out}/data",
    )
    return _run_benchmark(config, before=lambda: print(format_info(dataset_info(config.data))))


def _run_benchmark(config, before=None) -> int:
    """Run the benchmark; print the table and the report path (exit 1 if trials failed).

    The benchmark writes with plain file APIs, so a remote ``out`` (``s3://...``) is written to
    a local directory first and uploaded when the grid finishes (failed cells included: a rerun
    resumes them). On a cluster of several nodes, give ``out`` on shared storage instead.
    """
    from engine._internal.staging import staged_output
    from engine.benchmark import run_benchmark

    with staged_output(config.out) as local_out:
        result = run_benchmark(replace(config, out=local_out), on_prepared=before)
        report = os.path.relpath(result.report, local_out)
    print(result.table)
    if result.failed:
        print(f"{len(result.failed)} cell(s) failed; run the same command again to resume them")
    print(f"report: {os.path.join(config.out, report)}")
    return 1 if result.failed else 0


def _benchmark(args: argparse.Namespace) -> int:
    """DUSE against the baselines: the (method x rate x seed) grid as Ray Tune trials."""
    from engine.benchmark import BenchmarkConfig

    return _run_benchmark(config_from_args(BenchmarkConfig, args))


def _scorers(args: argparse.Namespace) -> int:
    """List the registered scorers with what each needs."""
    from scorers._internal.listing import format_scorers

    print(format_scorers())
    return 0


def _expand_values(args: argparse.Namespace) -> dict:
    """What the expand flags that are not a config field set (nested keys, the class map)."""
    values: dict = {}
    if args.class_map:
        values["class_map"] = _class_map(args.class_map)
    if args.rate is not None or args.count is not None:  # one replaces the other
        values.update(rate=_scalar(args.rate), count=_scalar(args.count))
    sections: dict[str, dict] = {"train": {}, "scoring": {}}
    if args.workers is not None:
        sections["train"]["workers"] = _scalar(args.workers)
    if args.gpus:
        sections["train"]["use_gpu"] = True
        sections["scoring"].update(actors=args.gpus, gpus_per_actor=1.0)
    if args.executor:
        sections["scoring"]["executor"] = args.executor
    args.overrides = [
        *(
            f"{name}.{key}={value}"
            for name, keys in sections.items()
            for key, value in keys.items()
        ),
        *args.overrides,
    ]
    return values


def _scalar(text: str | None):
    from engine.config import parse_scalar

    return None if text is None else parse_scalar(text)


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

    extra = _expand_values(args)
    config = config_from_args(ExpandConfig, args, **extra)
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
    from engine._internal.staging import staged_output
    from engine.zsl import ZslConfig, run_zsl, search_settings, tune_groups

    values = {}
    if args.group is not None:
        values["groups"] = [args.group]
    if args.seeds:
        values["seeds"] = [int(seed) for seed in args.seeds.split(",")]
    config = config_from_args(ZslConfig, args, **values)
    if args.search:
        found = search_settings(config, args.group or 1)
        print(f"best on validation H {found['best_val']['val_harmonic_mean']:.4f}: {found['best']}")
        return 0
    with staged_output(config.out) as local_out:
        summary = (tune_groups if args.tune else run_zsl)(replace(config, out=local_out))
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


def _config_schema(args: argparse.Namespace) -> int:
    """Print a config kind's JSON Schema (every key, its type, bounds, default, description)."""
    from engine.config import json_schema

    print(json.dumps(json_schema(args.kind), indent=2))
    return 0


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one (not for unset flags and switches)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], argparse.SUPPRESS) or "(default" in action.help:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Help with every option's default, and (``listing``) the registered models and scorers."""

    def __init__(self, *args, listing: bool = False, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.listing = listing

    def format_help(self) -> str:
        text = super().format_help()
        if not self.listing:
            return text
        import models
        import scorers

        names = [info.name for info in scorers.available()]
        return (
            f"{text}\nregistered models: {', '.join(models.available())}\n"
            f"registered scorers: {', '.join(names)} (details: duse scorers)\n"
        )


def _parser() -> argparse.ArgumentParser:
    from engine.benchmark import BenchmarkConfig
    from engine.data.generate import GenerateConfig
    from engine.expansion import ExpandConfig
    from engine.training import TrainConfig
    from engine.zsl import ZslConfig

    parser = _Parser(prog="duse", description=__doc__, listing=True)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="-v: other libraries' INFO too; -vv: the engine's DEBUG",
    )  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo", help="run the embedded default job (laptop-sized)")
    demo.add_argument("--out", default="runs/demo", help="output directory")
    demo.add_argument("--config", default=QUICKSTART, help="benchmark config YAML")
    demo.add_argument("--scale", type=float, help="dataset scale (default: the config's)")
    demo.add_argument("--seed", type=int, help="dataset seed (default: the config's)")
    demo.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    demo.set_defaults(run=_demo)

    bench = commands.add_parser(
        "benchmark", help="DUSE vs baselines: a Ray Tune grid + report (docs/benchmark.md)",
        listing=True,
    )  # fmt: skip
    add_config_arguments(bench, BenchmarkConfig)
    bench.set_defaults(run=_benchmark)

    train = commands.add_parser(
        "train", help="train a classifier (in-process or Ray Train)", listing=True
    )
    train.add_argument("--model", required=True, help="architecture (see the list below)")
    train.add_argument("--out", required=True, help="weights file (path or URI)")
    add_config_arguments(train, TrainConfig)
    train.set_defaults(run=_train, part="target")

    ev = commands.add_parser("evaluate", help="accuracy overall, per SNR, per class")
    ev.add_argument("--weights", required=True, help="weights file written by train or expand")
    ev.add_argument("--json", help="write the metrics JSON here")
    ev.set_defaults(run=_evaluate, part="test")

    for command in (train, ev):
        command.add_argument("--data", required=True, help="dataset directory or URI")
        command.add_argument("--split", help="splits.json; default: every frame of --data")
        command.add_argument("--part", choices=("test", "target", "pool"), help="split part")

    listing = commands.add_parser("scorers", help="list the registered scorers and their needs")
    listing.set_defaults(run=_scorers)

    grow = commands.add_parser(
        "expand", help="expand a target set from the pool (DUSE loop; docs/expansion.md)",
        listing=True,
    )  # fmt: skip
    add_config_arguments(
        grow,
        ExpandConfig,
        skip=("rate", "count"),
        aliases={"pool_snr_min_db": "--pool-snr-min", "pool_snr_max_db": "--pool-snr-max"},
    )
    shortcuts = grow.add_argument_group("shortcuts (set nested keys)")
    shortcuts.add_argument("--rate", help="budget as a fraction of the pool, (0, 1] (or --count)")
    shortcuts.add_argument("--count", help="budget as a number of samples (replaces rate)")
    shortcuts.add_argument(
        "--class-map",
        help="class_map: pool class -> target class, 'GMSK=GFSK,AM-DSB-WC=AM-DSB' ('X=' drops X)",
    )
    shortcuts.add_argument("--workers", help="train.workers: Ray Train workers per fit")
    shortcuts.add_argument("--gpus", type=int, help="GPUs: one scoring actor each, training on GPU")
    shortcuts.add_argument(
        "--executor", choices=("ray", "actors", "local"), help="scoring.executor"
    )
    grow.set_defaults(run=_expand)

    take = commands.add_parser("export", help="a run's expanded training set, for other tools")
    take.add_argument("run_dir", metavar="RUN", help="expansion run directory")
    take.add_argument("--out", required=True, help="dataset directory (parquet) or file")
    take.add_argument("--format", choices=("parquet", "npz", "hdf5"), default="parquet")
    take.set_defaults(run=_export)

    zsl = commands.add_parser("zsl", help="SigZSLNet zero-shot classification (docs/zsl.md)")
    add_config_arguments(zsl, ZslConfig)
    zsl.add_argument("--group", type=int, help="run only Table 4 group N")
    zsl.add_argument("--seeds", help="comma-separated seeds (default: the config's)")
    zsl.add_argument("--tune", action="store_true", help="groups x seeds as Tune trials")
    zsl.add_argument("--search", action="store_true", help="Tune search on a validation split")
    zsl.set_defaults(run=_zsl)

    config = commands.add_parser("config", help="config kinds: their JSON Schema")
    config_verbs = config.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    schema = config_verbs.add_parser("schema", help="print a config kind's JSON Schema")
    schema.add_argument("kind", choices=KINDS)
    schema.set_defaults(run=_config_schema)

    data = commands.add_parser("data", help="generate, convert, inspect and split datasets")
    verbs = data.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    gen = verbs.add_parser("generate", help="synthesise a profile (engine.data.profiles)")
    add_config_arguments(gen, GenerateConfig)
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

    conv.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    conv.add_argument("--shard-mib", type=float, default=128.0, help="target shard size (MiB)")

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
        _configure_logging(args)
        return args.run(args)
    except KeyboardInterrupt as stop:
        print(
            f"duse: {'terminated' if isinstance(stop, Terminated) else 'interrupted'}",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`duse ... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
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


def _configure_logging(args: argparse.Namespace) -> None:
    """The engine's progress (INFO) by default; ``-q``: warnings only; ``-v``/``-vv``: more."""
    from engine._internal.logs import configure_logging

    configure_logging(-1 if args.quiet else min(args.verbose, 2))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so every ``with`` block (writers) cleans up."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def entry(command: Sequence[str] = ()) -> None:
    """The console script: :func:`main` on ``command`` + the process's arguments, then
    :func:`exit_process` with its status. The job entrypoints (``python -m jobs.NAME``) are
    ``entry([NAME])``, so they take exactly what ``duse NAME`` takes."""
    from engine._internal.process import exit_process

    signal.signal(signal.SIGTERM, _terminate)
    try:
        status = main([*command, *sys.argv[1:]])
    except KeyboardInterrupt:  # a second Ctrl-C while the first was being handled
        print("duse: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    exit_process(status)


if __name__ == "__main__":
    entry()
