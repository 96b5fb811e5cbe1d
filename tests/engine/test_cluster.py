"""engine.cluster and `duse submit|status|logs|cluster`: unit checks, then a real Ray head on
127.0.0.1 that runs expansion jobs submitted through `duse submit` and `ray job submit`.

The head is a separate `ray start --head --block` process with its own temp dir and ports; this
process never calls ray.init for it (the session's `ray_session` fixture is a different Ray).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from engine import cluster
from engine.cli import main
from engine.data.generate import generate
from engine.data.splits import Split

ROOT = cluster.PROJECT_ROOT


# --- units ---------------------------------------------------------------------------------


def test_job_entrypoints_are_the_modules_under_jobs():
    assert {"expand", "generate", "zsl"} <= set(cluster.available_jobs())
    assert "_internal" not in cluster.available_jobs()
    assert (
        cluster.job_entrypoint("expand", ["--config", "a b.yaml"])
        == "python -m jobs.expand --config 'a b.yaml'"
    )
    with pytest.raises(ValueError, match=r"unknown job 'expnad'; known jobs: .*expand"):
        cluster.job_entrypoint("expnad")


def test_default_address_prefers_the_api_server_variable(monkeypatch):
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # a GCS address is not a job server
    assert cluster.default_address() == "http://127.0.0.1:8265"
    monkeypatch.setenv("RAY_ADDRESS", "http://10.0.0.1:8265")
    assert cluster.default_address() == "http://10.0.0.1:8265"
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "https://ray.example:443")
    assert cluster.default_address() == "https://ray.example:443"


def test_local_head_refuses_bad_auth_and_a_running_head_in_its_directory(tmp_path):
    with pytest.raises(ValueError, match="auth_mode"):
        cluster.start_local_head(tmp_path, auth_mode="none")
    record = {
        "pid": os.getpid(),  # a live pid: the directory looks taken
        "address": "127.0.0.1:1",
        "dashboard_url": "http://127.0.0.1:2",
        "temp_dir": str(tmp_path / "ray"),
        "state_dir": str(tmp_path),
        "auth_mode": "disabled",
    }
    (tmp_path / "head.json").write_text(json.dumps(record))
    assert cluster.local_head(tmp_path).pid == os.getpid()
    with pytest.raises(FileExistsError, match="already has a running head"):
        cluster.start_local_head(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "head.json").write_text(json.dumps({**record, "pid": dead.pid}))
    assert cluster.local_head(tmp_path) is None
    assert cluster.stop_local_head(tmp_path) is False and not (tmp_path / "head.json").exists()


def test_cli_errors_without_a_cluster(tmp_path, capsys):
    assert main(["submit", "--address", "http://127.0.0.1:9", "--"]) == 2
    assert "name a job after --" in capsys.readouterr().err
    assert main(["submit", "--address", "http://127.0.0.1:9", "--", "nope"]) == 2
    assert "unknown job 'nope'" in capsys.readouterr().err
    argv = ["submit", "--address", "http://127.0.0.1:9", "--", "expand", "--config", "c.yaml"]
    assert main(argv) == 2  # nothing listens on port 9
    assert "job server: Failed to connect to Ray at address" in capsys.readouterr().err
    assert main(["cluster", "local", "status", "--dir", str(tmp_path)]) == 1
    assert main(["cluster", "local", "down", "--dir", str(tmp_path)]) == 0
    assert "no running head" in capsys.readouterr().out


# --- a real head on loopback ---------------------------------------------------------------


@pytest.fixture(scope="module")
def client_env():
    """Auth off for this process's job clients, as on the head (reference/ray.md 0.3)."""
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    yield
    if saved is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = saved


@pytest.fixture(scope="module")
def head(client_env):
    state = tempfile.mkdtemp(prefix="dh", dir="/tmp")  # short: unix socket paths
    assert main(["cluster", "local", "up", "--dir", state, "--num-cpus", "4"]) == 0
    head = cluster.local_head(state)
    try:
        yield head
    finally:
        cluster.stop_local_head(state)  # no-op when the last test stopped it already
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def job_files(tmp_path_factory):
    """A tiny dataset and an expansion config that scores the pool on the cluster (Ray Data)."""
    root = tmp_path_factory.mktemp("jobs")
    data = str(root / "ds")
    generate("rml2016a", data, scale=0.004, seed=0, executor="local", shard_bytes=2**18)
    config = {
        "data": data,
        "out": str(root / "unused"),
        "model": "cnn1d",
        "rounds": 2,
        "count": 22,
        "balanced": True,
        "seed": 5,
        "split": {"test": 0.2, "target": 0.1},
        "train": {"epochs": 1, "batch_size": 64},
        "evaluate": False,
        "scoring": {"executor": "ray", "batch_size": 128, "actors": 1},
    }
    path = root / "expand.yaml"
    path.write_text(yaml.safe_dump(config))
    bad = root / "bad.yaml"
    bad.write_text(yaml.safe_dump({**config, "bogus": 1}))
    return root, str(path), str(bad)


def _group(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid`` (read from /proc)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        state, _, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state != "Z":
            found.append(int(name))
    return found


# Loopback in /proc/net/tcp{,6} notation: 127.0.0.1, ::ffff:127.0.0.1 and ::1.
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def _listening(pids: list[int]) -> list[tuple[str, int]]:
    """(hex address, port) of every TCP socket the processes listen on."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append((address, int(port, 16)))
    return found


def test_head_listens_on_loopback_only(head):
    processes = _group(head.pid)
    assert len(processes) > 3  # gcs_server, raylet, dashboard, agents
    listening = _listening(processes)
    ports = {port for _, port in listening}
    assert int(head.address.rsplit(":", 1)[1]) in ports
    assert int(head.dashboard_url.rsplit(":", 1)[1]) in ports
    assert {address for address, _ in listening} <= LOOPBACK, listening


def _manifest(run: Path) -> dict:
    return pq.read_table(run / "manifest.parquet").to_pydict()


def test_duse_submit_runs_an_expansion_job_on_the_head(head, job_files, capsys):
    root, config, _ = job_files
    out = f"file://{root}/run-duse"
    argv = ["submit", "--address", head.dashboard_url, "--", "expand", "--config", config]
    assert main([*argv, "--out", out]) == 0
    printed = capsys.readouterr().out
    job_id = printed.split("submitted job ", 1)[1].split()[0]
    assert job_id.startswith("raysubmit_")
    assert f"joining Ray cluster at {head.address}" in printed  # the job used this head
    assert f"selected 22 samples in 2 round(s); target 88 -> {out}" in printed  # streamed logs
    assert printed.rstrip().endswith(f"job {job_id} SUCCEEDED")

    manifest = _manifest(root / "run-duse")
    split = Split.load(str(root / "run-duse" / "splits.json"))
    assert manifest["round"] == [1] * 11 + [2] * 11
    assert len(set(manifest["id"])) == 22 and np.isin(manifest["id"], split.pool_ids).all()
    for round_index in (1, 2):
        labels = [
            lab
            for lab, r in zip(manifest["label"], manifest["round"], strict=True)
            if r == round_index
        ]
        assert sorted(labels) == list(range(11))
    metrics = json.loads((root / "run-duse" / "metrics.json").read_text())
    assert metrics["complete"] is True and metrics["budget"] == 22

    assert main(["status", "--address", head.dashboard_url, "--json", job_id]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["status"] == "SUCCEEDED" and "jobs.expand" in status["entrypoint"]
    assert main(["logs", "--address", head.dashboard_url, job_id]) == 0
    assert "selected 22 samples" in capsys.readouterr().out


def test_ray_job_submit_runs_the_same_job_and_selects_the_same_ids(head, job_files):
    root, config, _ = job_files
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    command = [
        str(Path(sys.executable).parent / "ray"),
        "job",
        "submit",
        "--address",
        head.dashboard_url,
        "--working-dir",
        ".",
        "--",
        "python",
        "-m",
        "jobs.expand",
        "--config",
        config,
        "--out",
        str(root / "run-cli"),
        "--set",
        "scoring.executor=local",  # scored in the job's own process this time
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "succeeded" in result.stdout.lower()
    cli, duse = _manifest(root / "run-cli"), _manifest(root / "run-duse")
    assert cli["id"] == duse["id"] and cli["round"] == duse["round"]  # same seed, same selection
    np.testing.assert_allclose(cli["score"], duse["score"], rtol=1e-5)


def test_a_bad_config_job_fails_with_its_error_and_submit_exits_nonzero(head, job_files, capsys):
    _, _, bad = job_files
    argv = ["submit", "--address", head.dashboard_url, "--", "expand", "--config", bad]
    assert main(argv) == 1
    captured = capsys.readouterr()
    job_id = captured.out.split("submitted job ", 1)[1].split()[0]
    assert "unknown expand config keys ['bogus']" in captured.out  # the job's own error line
    assert f"job {job_id} FAILED: Job entrypoint command failed with exit code 2" in captured.err
    status = cluster.job_status(head.dashboard_url, job_id)
    assert status["status"] == "FAILED" and "['bogus']" in status["message"]


def test_the_head_stops_by_its_pid(head):
    state = Path(head.state_dir)
    assert (Path(head.temp_dir) / "ray_current_cluster").exists()
    assert main(["cluster", "local", "down", "--dir", str(state)]) == 0
    deadline = time.monotonic() + 10
    while _group(head.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group(head.pid) == []  # every process of its group is gone
    with pytest.raises(ProcessLookupError):
        os.kill(head.pid, 0)
    assert not (state / "head.json").exists()
    assert not (Path(head.temp_dir) / "ray_current_cluster").exists()
    assert cluster.local_head(state) is None
