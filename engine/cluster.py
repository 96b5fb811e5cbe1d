"""Ray Jobs and clusters: submit a job entrypoint, follow it, and run a head on loopback.

``submit`` wraps Ray's ``JobSubmissionClient``: the project directory is the job's
``working_dir`` (``.gitignore`` and ``.rayignore`` are honoured, reference/ray.md 5), so
``engine``, ``scorers``, ``models`` and ``jobs`` import on every worker without an install.
``start_local_head`` starts ``ray start --head --block`` as its own process group, bound to
127.0.0.1 on free ports with its own temp dir, and records its pid in a state directory; with
``workers=N`` it adds N worker nodes the same way (``ray start --address=HEAD --block``, one
raylet, object store and temp dir each, a marker resource ``duse_worker_<i>`` each): a multi-node
cluster on one host, each node on its own loopback address. ``stop_local_head`` stops the
workers and the head by their pids (never ``ray stop``, which kills every Ray on the host).
docs/cluster.md is the user guide.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from engine._internal.atomic import write_json
from engine._internal.process import pid_alive
from engine._internal.ray_runtime import STORAGE_ENV

__all__ = [
    "PROJECT_ROOT",
    "LocalHead",
    "LocalWorker",
    "available_jobs",
    "default_address",
    "follow_logs",
    "job_entrypoint",
    "job_logs",
    "job_status",
    "local_head",
    "start_local_head",
    "stop_job",
    "stop_local_head",
    "submit",
    "wait_for_job",
]

log = logging.getLogger(f"duse.{__name__}")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADDRESS = "http://127.0.0.1:8265"
STATE_FILE = "head.json"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
# Every port a worker node opens (its raylet, object manager and agents).
WORKER_PORTS = (
    "node-manager-port",
    "object-manager-port",
    "dashboard-agent-grpc-port",
    "dashboard-agent-listen-port",
    "metrics-export-port",
    "runtime-env-agent-port",
)
# Every port a head opens, so two heads (or a head and a test's ray.init) never collide.
HEAD_PORTS = ("port", "dashboard-port", "ray-client-server-port", *WORKER_PORTS)
# Environment of a loopback head and of its clients (reference/ray.md 5 and 7): no usage
# stats, node IP 127.0.0.1 on Linux, fast SIGTERM teardown.
LOCAL_HEAD_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
}
# A cluster with worker nodes cannot keep node IP 127.0.0.1 (Ray 2.60): `ray start --address`
# refuses to run with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, and with it on, Ray rewrites the
# address "127.0.0.1" (and "localhost") to the host's interface IP (services.py
# resolve_ip_for_localhost). So each node gets its own address in 127.0.0.0/8, which Ray keeps
# as given: the head 127.0.0.2, worker i 127.0.0.<2+i>. For such a node IP, Ray's GCS, raylets
# and agents listen on every interface (the job server stays on 127.0.0.1): docs/cluster.md 1.
MULTI_NODE_IP = "127.0.0.{}"
MULTI_NODE_ENV = {**LOCAL_HEAD_ENV, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"}


def default_address() -> str:
    """The job server address: ``RAY_API_SERVER_ADDRESS``, else ``RAY_ADDRESS`` when it is an
    http(s) URL, else ``http://127.0.0.1:8265``."""
    for name in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
        value = os.environ.get(name, "")
        if value.startswith(("http://", "https://")):
            return value
    return DEFAULT_ADDRESS


def available_jobs(working_dir: str | Path = PROJECT_ROOT) -> list[str]:
    """Names of the job entrypoints ``jobs/<name>.py`` in ``working_dir``."""
    found = Path(working_dir, "jobs").glob("*.py")
    return sorted(path.stem for path in found if not path.stem.startswith("_"))


def job_entrypoint(
    job: str, args: Sequence[str] = (), working_dir: str | Path = PROJECT_ROOT
) -> str:
    """The shell entrypoint of a job under ``jobs/``: ``python -m jobs.<job> ARGS``.

    Raises:
        ValueError: ``working_dir`` has no ``jobs/<job>.py``.
    """
    known = available_jobs(working_dir)
    if job not in known:
        raise ValueError(f"unknown job {job!r}; known jobs: {', '.join(known)}")
    return shlex.join(["python", "-m", f"jobs.{job}", *args])


def _client(address: str):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address)


def submit(
    address: str,
    entrypoint: str,
    *,
    working_dir: str | Path = PROJECT_ROOT,
    env_vars: dict[str, str] | None = None,
    submission_id: str | None = None,
    entrypoint_num_cpus: float | None = None,
    entrypoint_num_gpus: float | None = None,
) -> str:
    """Submit ``entrypoint`` with ``working_dir`` uploaded; returns the job id.

    Args:
        address: the job server (dashboard) URL, e.g. ``http://127.0.0.1:8265``.
        entrypoint: the shell command the job runs, from the unpacked working directory.
        working_dir: directory uploaded as the job's working directory (``.gitignore`` and
            ``.rayignore`` files in it exclude paths).
        env_vars: environment of the job's driver and workers.
        submission_id: the job id to use (default: Ray picks one).
        entrypoint_num_cpus: CPUs reserved for the driver (default: none).
        entrypoint_num_gpus: GPUs reserved for the driver (default: none).
    """
    runtime_env: dict[str, Any] = {"working_dir": str(working_dir)}
    if env_vars:
        runtime_env["env_vars"] = dict(env_vars)
    options: dict[str, Any] = {}
    if entrypoint_num_cpus is not None:
        options["entrypoint_num_cpus"] = entrypoint_num_cpus
    if entrypoint_num_gpus is not None:
        options["entrypoint_num_gpus"] = entrypoint_num_gpus
    return _client(address).submit_job(
        entrypoint=entrypoint, runtime_env=runtime_env, submission_id=submission_id, **options
    )


def job_status(address: str, job_id: str) -> dict[str, Any]:
    """``{"job_id", "status", "message", "entrypoint", "start_time", "end_time"}`` of a job.

    ``status`` is one of PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED; ``message`` says why a
    job failed (with the tail of its logs). Times are Unix milliseconds (None until known).
    """
    info = _client(address).get_job_info(job_id)
    return {
        "job_id": job_id,
        "status": str(info.status.value),
        "message": info.message,
        "entrypoint": info.entrypoint,
        "start_time": info.start_time,
        "end_time": info.end_time,
    }


def job_logs(address: str, job_id: str) -> str:
    """Everything the job's driver wrote so far (stdout and stderr)."""
    return _client(address).get_job_logs(job_id)


def stop_job(address: str, job_id: str) -> bool:
    """Ask the job to stop; returns False when it had already finished."""
    return _client(address).stop_job(job_id)


def follow_logs(address: str, job_id: str, write: Callable[[str], Any] | None = None) -> None:
    """Stream the job's logs to ``write`` (default: standard output) until the job finishes."""
    output = write or sys.stdout.write

    async def tail() -> None:
        async for lines in _client(address).tail_job_logs(job_id):
            output(lines)

    asyncio.run(tail())


def wait_for_job(address: str, job_id: str, timeout_s: float = 3600.0) -> dict[str, Any]:
    """Poll until the job is SUCCEEDED, FAILED or STOPPED; returns :func:`job_status`.

    Raises:
        TimeoutError: the job is still running after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        status = job_status(address, job_id)
        if status["status"] in TERMINAL:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {status['status']} after {timeout_s:.0f} s")
        time.sleep(0.5)


@dataclass(frozen=True)
class LocalWorker:
    """A worker node of a local cluster (:func:`start_local_head` with ``workers``).

    Attributes:
        pid: pid of its ``ray start --address=... --block`` (leader of its own process group).
        resource: its marker resource, ``duse_worker_<i>`` (1 unit): ``ray.nodes()`` and the
            state API tell the nodes apart by it, and a task can be pinned with
            ``resources={"duse_worker_1": 0.01}``.
        ip: its node IP, ``127.0.0.<2+i>``.
        num_cpus: its logical CPUs.
        temp_dir: its own Ray temp dir (session, logs, object spilling).
    """

    pid: int
    resource: str
    ip: str
    num_cpus: int
    temp_dir: str


@dataclass(frozen=True)
class LocalHead:
    """A Ray head started by :func:`start_local_head`, and the worker nodes started with it.

    Attributes:
        pid: pid of ``ray start --block`` (the leader of its own process group).
        address: GCS address, ``127.0.0.1:<port>`` (``127.0.0.2:<port>`` with workers), for
            ``ray.init(address=...)``.
        dashboard_url: job server URL, ``http://127.0.0.1:<port>`` (``duse submit --address``).
        temp_dir: the head's Ray temp dir (sessions, logs, its ``ray_current_cluster`` file).
        state_dir: where ``head.json``, ``head.log`` and ``worker-<i>.log`` live.
        auth_mode: the head's ``RAY_AUTH_MODE``; clients need the same.
        workers: the worker nodes, in start order (none: a one-node cluster).
        storage: the directory every node of this cluster reads and writes
            (``<state_dir>/storage``: one host, so any local directory is shared), exported
            to every node as ``DUSE_RAY_STORAGE`` for Ray Train's run files; Tune's
            ``storage_path`` (a job's ``out``) belongs there too.
    """

    pid: int
    address: str
    dashboard_url: str
    temp_dir: str
    state_dir: str
    auth_mode: str
    workers: tuple[LocalWorker, ...] = field(default=())
    storage: str | None = None

    @property
    def pids(self) -> list[int]:
        """The head's pid and every worker's, workers first (the order they are stopped in)."""
        return [*(worker.pid for worker in reversed(self.workers)), self.pid]

    def client_env(self) -> dict[str, str]:
        """Environment variables a client of this head needs (job server address, auth, and
        the shared storage of a multi-node cluster for a driver that joins it directly)."""
        env = {"RAY_API_SERVER_ADDRESS": self.dashboard_url, "RAY_AUTH_MODE": self.auth_mode}
        if self.storage is not None:
            env[STORAGE_ENV] = self.storage
        return env


def _free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports free on ``host`` right now (``""``: on every interface)."""
    sockets = []
    try:
        for _ in range(count):
            handle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            handle.bind((host, 0))
            sockets.append(handle)
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def _ray_executable() -> str:
    """The ``ray`` script next to this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / "ray"
    found = str(beside) if beside.exists() else shutil.which("ray")
    if found is None:
        raise FileNotFoundError("no `ray` executable: install ray[default]")
    return found


def _dashboard_ready(url: str) -> bool:
    """True once the job server answers; 401 counts (a head with token auth is up)."""
    try:
        with urllib.request.urlopen(f"{url}/api/version", timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError as err:
        return err.code == 401
    except (urllib.error.URLError, OSError):
        return False


def start_local_head(
    state_dir: str | Path | None = None,
    *,
    num_cpus: int = 4,
    num_gpus: int | None = None,
    auth_mode: str = "disabled",
    workers: int = 0,
    worker_cpus: int = 2,
    object_store_memory: int | None = None,
    timeout_s: float = 90.0,
) -> LocalHead:
    """Start a Ray head (with job server) on 127.0.0.1, and ``workers`` worker nodes, and wait
    until the head accepts jobs and every worker has joined.

    The head runs ``ray start --head --block`` in its own process group, on free ports, with
    the Ray temp dir ``<state_dir>/ray``; each worker runs ``ray start --address=HEAD --block``
    the same way, with its own raylet, object store, ports and temp dir
    ``<state_dir>/worker-<i>``, ``worker_cpus`` logical CPUs and the marker resource
    ``duse_worker_<i>``. Alone, the head's node IP is 127.0.0.1 and every port it opens is on
    127.0.0.1; with workers, node IPs are 127.0.0.2 (head) and 127.0.0.<2+i> (see
    :data:`MULTI_NODE_IP`). The job server is on 127.0.0.1 either way. ``python`` in job
    entrypoints resolves to this interpreter's environment. ``head.json`` in ``state_dir``
    records every pid for :func:`stop_local_head`.

    With workers, ``<state_dir>/storage`` is the cluster's shared storage: every node gets it
    as ``DUSE_RAY_STORAGE`` (Ray Train's run files, :mod:`engine._internal.ray_train`), and
    :meth:`LocalHead.client_env` names it for drivers that join with ``ray.init``.

    Args:
        state_dir: where the cluster keeps its state; short, because Ray's unix socket paths
            must stay under ~107 characters (default: a new directory under /tmp).
        num_cpus: the head's logical CPUs; more than the cores is fine and avoids Ray Data's
            all-CPUs-taken hang (reference/ray.md 0.2). With workers, 0 keeps every task and
            trial off the head (drivers and the job server only), as on a real cluster.
        num_gpus: the head's logical GPUs (default: Ray detects them).
        auth_mode: ``RAY_AUTH_MODE`` of every node, ``disabled`` or ``token`` (clients then
            set ``RAY_AUTH_MODE=token`` and read the token file ``ray get-auth-token`` prints).
        workers: worker nodes to add (0: a one-node cluster).
        worker_cpus: logical CPUs of each worker node.
        object_store_memory: bytes of each node's object store (default: Ray's, 30% of memory).
        timeout_s: give up (and stop what started) when the job server or a worker is not up
            by then.

    Raises:
        FileExistsError: ``state_dir`` already records a running head.
        ValueError: a bad ``auth_mode``, ``workers`` or ``worker_cpus``.
        RuntimeError: a node exited or did not come up in time (its log is in the message).
    """
    if auth_mode not in ("disabled", "token"):
        raise ValueError(f"auth_mode must be 'disabled' or 'token', got {auth_mode!r}")
    if workers < 0 or (workers and worker_cpus < 1):
        raise ValueError(f"need workers >= 0 and worker_cpus >= 1, got {workers}, {worker_cpus}")
    state = Path(state_dir or tempfile.mkdtemp(prefix="dh", dir="/tmp"))
    state.mkdir(parents=True, exist_ok=True)
    previous = _read_state(state)
    if previous is not None and pid_alive(previous.pid):
        raise FileExistsError(f"{state} already has a running head (pid {previous.pid})")
    storage = None
    if workers:
        storage = str(state / "storage")
        os.makedirs(storage, exist_ok=True)
    temp_dir = state / "ray"
    head_ip = MULTI_NODE_IP.format(2) if workers else "127.0.0.1"
    bind = "" if workers else "127.0.0.1"  # multi-node Ray listens on every interface
    ports = dict(zip(HEAD_PORTS, _free_ports(len(HEAD_PORTS), bind), strict=True))
    options = [f"--object-store-memory={object_store_memory}"] if object_store_memory else []
    command = [
        "--head",
        f"--node-ip-address={head_ip}",
        "--dashboard-host=127.0.0.1",
        "--include-dashboard=true",
        f"--num-cpus={num_cpus}",
        f"--temp-dir={temp_dir}",
        *(f"--{name}={port}" for name, port in ports.items()),
        *options,
    ]
    if num_gpus is not None:
        command.append(f"--num-gpus={num_gpus}")
    env = _node_env(auth_mode, storage, MULTI_NODE_ENV if workers else LOCAL_HEAD_ENV)
    log_path = state / "head.log"
    process = _start_node(command, env, log_path)
    head = LocalHead(
        pid=process.pid,
        address=f"{head_ip}:{ports['port']}",
        dashboard_url=f"http://127.0.0.1:{ports['dashboard-port']}",
        temp_dir=str(temp_dir),
        state_dir=str(state),
        auth_mode=auth_mode,
        storage=storage,
    )
    _write_state(state, head)
    deadline = time.monotonic() + timeout_s
    while not _dashboard_ready(head.dashboard_url):
        if process.poll() is not None or time.monotonic() > deadline:
            _give_up(state, log_path, "Ray head")
        time.sleep(0.5)
    log.info("Ray head pid %d: %s, jobs at %s", head.pid, head.address, head.dashboard_url)
    started = []
    for index in range(1, workers + 1):  # started together, then awaited together
        worker_ports = _free_ports(len(WORKER_PORTS), bind)
        worker = LocalWorker(
            pid=0,
            resource=f"duse_worker_{index}",
            ip=MULTI_NODE_IP.format(2 + index),
            num_cpus=worker_cpus,
            temp_dir=str(state / f"worker-{index}"),
        )
        command = [
            f"--address={head.address}",
            f"--node-ip-address={worker.ip}",
            f"--num-cpus={worker_cpus}",
            "--num-gpus=0",
            f"--resources={json.dumps({worker.resource: 1})}",
            f"--temp-dir={worker.temp_dir}",
            *(f"--{name}={port}" for name, port in zip(WORKER_PORTS, worker_ports, strict=True)),
            *options,
        ]
        process = _start_node(command, env, state / f"worker-{index}.log")
        started.append((process, replace(worker, pid=process.pid)))
        head = replace(head, workers=(*head.workers, started[-1][1]))
        _write_state(state, head)
    for index, (process, worker) in enumerate(started, 1):
        while not _node_joined(head.dashboard_url, worker.resource):
            if process.poll() is not None or time.monotonic() > deadline:
                _give_up(state, state / f"worker-{index}.log", f"Ray worker {index}")
            time.sleep(0.5)
        log.info(
            "Ray worker %d pid %d on %s: %d CPUs", index, worker.pid, worker.ip, worker.num_cpus
        )
    return head


def _node_env(auth_mode: str, storage: str | None, base: dict[str, str]) -> dict[str, str]:
    """The environment of a local node's ``ray start`` (and so of its Ray workers)."""
    env = {**os.environ, **base, "RAY_AUTH_MODE": auth_mode}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("RAY_ADDRESS", None)
    if storage is not None:
        env[STORAGE_ENV] = storage
    return env


def _start_node(options: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """``ray start --block OPTIONS`` in its own process group, output to ``log_path``."""
    command = [_ray_executable(), "start", "--block", "--disable-usage-stats", *options]
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            command,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped by pid, never `ray stop`
        )


def _give_up(state: Path, log_path: Path, what: str) -> None:
    """Stop everything started in ``state`` and raise with ``log_path``'s tail."""
    stop_local_head(state)
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{what} did not start (log {log_path}):\n{tail}")


def _node_joined(dashboard_url: str, resource: str) -> bool:
    """True once an alive node holding ``resource`` is registered with the head (state API)."""
    url = f"{dashboard_url}/api/v0/nodes?limit=1000&detail=1"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            nodes = json.loads(response.read())["data"]["result"]["result"]
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
        return False
    return any(
        node.get("state") == "ALIVE" and resource in node.get("resources_total", {})
        for node in nodes
    )


def _write_state(state: Path, head: LocalHead) -> None:
    write_json(str(state / STATE_FILE), asdict(head), indent=2)


def _read_state(state: Path) -> LocalHead | None:
    path = state / STATE_FILE
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    workers = tuple(LocalWorker(**worker) for worker in record.pop("workers", ()))
    return LocalHead(**record, workers=workers)


def local_head(state_dir: str | Path) -> LocalHead | None:
    """The head recorded in ``state_dir`` if its process is still running, else None."""
    head = _read_state(Path(state_dir))
    return head if head is not None and pid_alive(head.pid) else None


def stop_local_head(state_dir: str | Path, timeout_s: float = 30.0) -> bool:
    """Stop the cluster recorded in ``state_dir`` by its pids; returns False if its head was not
    running.

    The worker nodes (together), then the head, get SIGTERM on their ``ray start --block``
    process, which shuts that node's Ray processes down; whatever of a node's process group is
    left after ``timeout_s`` gets SIGKILL. Nothing else is signalled. Removes ``head.json``;
    logs and the shared storage stay in the state directory.
    """
    state = Path(state_dir)
    head = _read_state(state)
    if head is None:
        return False
    running = pid_alive(head.pid)
    _stop_nodes([worker.pid for worker in head.workers], timeout_s)
    _stop_nodes([head.pid], timeout_s)
    (state / STATE_FILE).unlink(missing_ok=True)
    # A stale address file makes a later plain ray.init() try to join a dead head.
    Path(head.temp_dir, "ray_current_cluster").unlink(missing_ok=True)
    return running


def _stop_nodes(pids: list[int], timeout_s: float) -> None:
    """SIGTERM to each node's ``ray start --block``, SIGKILL to what is left of its process
    group once it exited or after ``timeout_s``."""
    alive = [pid for pid in pids if pid > 0 and pid_alive(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(pid_alive(pid) for pid in alive) and time.monotonic() < deadline:
        for pid in alive:
            _reap(pid)
        time.sleep(0.2)
    for pid in alive:
        _kill_group(pid)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our child (a head started by this process), so it can exit."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _kill_group(pid: int, timeout_s: float = 5.0) -> None:
    """SIGKILL what is left of the head's process group (its pid is the group id), then wait
    until the group is gone."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.1)
