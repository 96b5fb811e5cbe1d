"""Plumbing shared by the job entrypoints: arguments, config overrides, exit status, staging.

May change without notice; the entrypoints themselves (``python -m jobs.<name>``) are the API.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import fsspec
import yaml

log = logging.getLogger("jobs")

# Errors a config can cause: reported in one line, exit status 2 (as `duse`).
USER_ERRORS = (ValueError, KeyError, TypeError, FileExistsError, FileNotFoundError)
USER_ERROR_STATUS = 2


def parse_arguments(
    job: str,
    description: str | None,
    argv: Sequence[str] | None,
    extra: Callable[[argparse.ArgumentParser], Any] | None = None,
) -> argparse.Namespace:
    """``--config URI`` (required), ``--out URI``, repeated ``--set KEY=VALUE``, and whatever
    ``extra`` adds to the parser."""
    parser = argparse.ArgumentParser(prog=f"python -m jobs.{job}", description=description)
    parser.add_argument("--config", required=True, help="YAML config (path or fsspec URI)")
    parser.add_argument("--out", help="output URI; overrides the config's `out`")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (dotted for sections: train.workers=2); VALUE is YAML",
    )
    if extra is not None:
        extra(parser)
    return parser.parse_args(argv)


def load_values(args: argparse.Namespace) -> dict[str, Any]:
    """The config file as nested dicts, with ``--set`` and then ``--out`` applied.

    Raises:
        ValueError: the file is not a mapping, or a ``--set`` lacks ``=`` or names a key
            inside something that is not a mapping.
    """
    with fsspec.open(args.config, "r") as handle:
        values = yaml.safe_load(handle) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{args.config}: a job config is a mapping")
    for pair in args.overrides:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {pair!r}")
        set_dotted(values, key, yaml.safe_load(text))
    if args.out:
        values["out"] = args.out
    return values


def set_dotted(values: dict[str, Any], key: str, value: Any) -> None:
    """``values["a"]["b"] = value`` for ``key="a.b"``, creating missing sections."""
    *sections, name = key.split(".")
    node = values
    for section in sections:
        child = node.get(section)
        if child is None:
            child = node[section] = {}
        if not isinstance(child, dict):
            raise ValueError(f"--set {key}: {section!r} is not a section")
        node = child
    node[name] = value


def is_local(uri: str) -> bool:
    """True for plain paths and ``file://`` URIs."""
    protocol = fsspec.core.split_protocol(uri)[0]
    return protocol in (None, "file", "local")


@contextlib.contextmanager
def staged_output(uri: str) -> Iterator[str]:
    """A local directory to write into, copied to ``uri`` afterwards when ``uri`` is remote.

    For engine functions that write with plain file APIs: a local ``uri`` is used as is; for
    ``s3://``, ``gs://`` and other fsspec URIs the output goes to a temporary directory that is
    uploaded once the body finishes without error.
    """
    if is_local(uri):
        yield fsspec.core.split_protocol(uri)[1]
        return
    with tempfile.TemporaryDirectory(prefix="job-out") as local:
        yield local
        fs, path = fsspec.core.url_to_fs(uri)
        log.info("uploading %s to %s", local, uri)
        fs.put(f"{local}/", path.rstrip("/"), recursive=True)


def run_job(main: Callable[[], int]) -> int:
    """Run a job's body with INFO logging; a config error prints one line and returns 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        return main()
    except (*USER_ERRORS, pickle.UnpicklingError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"job error: {type(err).__name__}: {message}", file=sys.stderr)
        return USER_ERROR_STATUS
