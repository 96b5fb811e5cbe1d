"""The ``duse submit|status|logs|stop`` and ``duse cluster local up|down|status`` commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from engine import cluster

# The default state directory of `duse cluster local`: short (unix socket paths), per user.
DEFAULT_STATE_DIR = f"/tmp/duse-head-{os.getuid()}"


def _client_errors() -> tuple[type[BaseException], ...]:
    """What the job server client raises for an unreachable, refusing or unauthorised server."""
    from ray.exceptions import AuthenticationError

    return (ConnectionError, RuntimeError, AuthenticationError)


def _client_call(function, *args: Any) -> Any:
    """``function(*args)``, with job server errors turned into one-line user errors."""
    try:
        return function(*args)
    except _client_errors() as err:
        raise ValueError(f"job server: {err}") from err


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env takes KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def _default_working_dir() -> str:
    """The project checkout this ``engine`` comes from; the current directory when ``engine`` is
    installed (never upload site-packages)."""
    if (cluster.PROJECT_ROOT / "pyproject.toml").exists():
        return str(cluster.PROJECT_ROOT)
    return os.getcwd()


def _submit(args: argparse.Namespace) -> int:
    args.working_dir = args.working_dir or _default_working_dir()
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        jobs = "|".join(cluster.available_jobs(args.working_dir))
        raise ValueError(f"name a job after --: duse submit -- <{jobs}> --config FILE")
    entrypoint = cluster.job_entrypoint(command[0], command[1:], args.working_dir)
    job_id = _client_call(
        lambda: cluster.submit(
            args.address,
            entrypoint,
            working_dir=args.working_dir,
            env_vars=_env_pairs(args.env),
            submission_id=args.submission_id,
            entrypoint_num_cpus=args.entrypoint_num_cpus,
            entrypoint_num_gpus=args.entrypoint_num_gpus,
        )
    )
    print(f"submitted job {job_id} to {args.address}: {entrypoint}", flush=True)
    if args.no_wait:
        print(f"follow it with: duse logs --address {args.address} --follow {job_id}")
        return 0
    return _follow_and_report(args.address, job_id)


def _follow_and_report(address: str, job_id: str) -> int:
    """Stream the logs, then exit 0 for SUCCEEDED and 1 for FAILED or STOPPED."""
    try:
        _client_call(cluster.follow_logs, address, job_id, _write)
        status = _client_call(cluster.wait_for_job, address, job_id)
    except KeyboardInterrupt:
        print(
            f"\njob {job_id} keeps running; `duse logs --follow {job_id}` or `duse stop {job_id}`",
            file=sys.stderr,
        )
        return 130
    if status["status"] == "SUCCEEDED":
        print(f"job {job_id} SUCCEEDED")
        return 0
    reason = (status["message"] or "").splitlines()[0] if status["message"] else "no message"
    print(f"job {job_id} {status['status']}: {reason}", file=sys.stderr)
    return 1


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _status(args: argparse.Namespace) -> int:
    status = _client_call(cluster.job_status, args.address, args.job_id)
    if args.json:
        print(json.dumps(status))
    else:
        print(f"{status['job_id']}: {status['status']}")
        if status["message"]:
            print(status["message"])
    return 0


def _logs(args: argparse.Namespace) -> int:
    if args.follow:
        return _follow_and_report(args.address, args.job_id)
    _write(_client_call(cluster.job_logs, args.address, args.job_id))
    return 0


def _stop(args: argparse.Namespace) -> int:
    stopped = _client_call(cluster.stop_job, args.address, args.job_id)
    print(f"job {args.job_id}: {'stop requested' if stopped else 'already finished'}")
    return 0


def _local_up(args: argparse.Namespace) -> int:
    try:
        head = cluster.start_local_head(
            args.dir,
            num_cpus=args.num_cpus,
            num_gpus=args.num_gpus,
            auth_mode=args.auth,
            workers=args.workers,
            worker_cpus=args.worker_cpus,
            object_store_memory=args.object_store_mb * 2**20 if args.object_store_mb else None,
        )
    except RuntimeError as err:  # a node exited or timed out; its log tail is in the message
        print(f"duse: error: {err}", file=sys.stderr)
        return 1
    host = head.address.rsplit(":", 1)[0]
    print(f"Ray head pid {head.pid} on {host} (state and logs in {head.state_dir})")
    for worker in head.workers:
        cpus, resource = worker.num_cpus, worker.resource
        print(f"Ray worker pid {worker.pid} on {worker.ip}: {cpus} CPUs, resource {resource}")
    print(f"  ray.init(address={head.address!r})")
    for name, value in head.client_env().items():
        print(f"  export {name}={value}")
    print(f"  duse submit --address {head.dashboard_url} -- expand --config FILE")
    print(f"stop it with: duse cluster local down --dir {head.state_dir}")
    return 0


def _local_down(args: argparse.Namespace) -> int:
    stopped = cluster.stop_local_head(args.dir)
    print(f"stopped the head in {args.dir}" if stopped else f"no running head in {args.dir}")
    return 0


def _local_status(args: argparse.Namespace) -> int:
    head = cluster.local_head(args.dir)
    if head is None:
        print(f"no running head in {args.dir}")
        return 1
    workers = [worker.pid for worker in head.workers]
    record = {**head.client_env(), "pid": head.pid, "address": head.address}
    print(json.dumps({**record, "workers": workers} if workers else record))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``submit``, ``status``, ``logs``, ``stop`` and ``cluster`` to the ``duse`` parser."""
    address_help = "job server URL (default: $RAY_API_SERVER_ADDRESS, else http://127.0.0.1:8265)"

    submit = commands.add_parser(
        "submit",
        help="run a job on a Ray cluster: duse submit --address URL -- <job> --config FILE",
    )
    submit.add_argument("--working-dir", help="directory uploaded to the job (default: project)")
    submit.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    submit.add_argument("--submission-id", help="job id to use (default: Ray's)")
    submit.add_argument("--entrypoint-num-cpus", type=float)
    submit.add_argument("--entrypoint-num-gpus", type=float)
    submit.add_argument("--no-wait", action="store_true", help="print the job id and return")
    submit.add_argument("command", nargs=argparse.REMAINDER, help="-- <job> --config FILE")
    submit.set_defaults(run=_submit)

    status = commands.add_parser("status", help="a submitted job's status and message")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=_status)
    logs = commands.add_parser("logs", help="a submitted job's logs")
    logs.add_argument("--follow", action="store_true", help="stream until the job ends")
    logs.set_defaults(run=_logs)
    stop = commands.add_parser("stop", help="stop a submitted job")
    stop.set_defaults(run=_stop)
    for command in (status, logs, stop):
        command.add_argument("job_id")
    for command in (submit, status, logs, stop):
        command.add_argument("--address", default=cluster.default_address(), help=address_help)

    group = commands.add_parser("cluster", help="clusters: a local head on 127.0.0.1")
    kinds = group.add_subparsers(dest="kind", required=True)
    local = kinds.add_parser(
        "local", help="a Ray head (and worker nodes) on loopback, stopped by their pids"
    )
    verbs = local.add_subparsers(dest="verb", required=True)
    up = verbs.add_parser("up", help="start a head (and --workers N) on free 127.0.0.1 ports")
    up.add_argument("--num-cpus", type=int, default=max(os.cpu_count() or 1, 4))
    up.add_argument("--num-gpus", type=int)
    up.add_argument("--auth", choices=("disabled", "token"), default="disabled")
    up.add_argument("--workers", type=int, default=0, help="worker nodes to add (default: 0)")
    up.add_argument("--worker-cpus", type=int, default=2, help="logical CPUs per worker node")
    up.add_argument("--object-store-mb", type=int, help="object store of each node (MiB)")
    up.set_defaults(run=_local_up)
    down = verbs.add_parser("down", help="stop the workers and the head by their pids")
    down.set_defaults(run=_local_down)
    state = verbs.add_parser("status", help="the running head's address (exit 1: none)")
    state.set_defaults(run=_local_status)
    for command in (up, down, state):
        command.add_argument("--dir", default=DEFAULT_STATE_DIR, help="state directory (short)")
