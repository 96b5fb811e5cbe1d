"""A multi-node Ray cluster on one machine: a head without CPUs and two worker nodes, each its
own `ray start` (raylet, object store, temp dir, node IP in 127.0.0.0/8), started and stopped
with cluster/local.sh. This process joins it with ray.init(address=...) and runs a Ray Train
fit, a scoring pass on a Ray Data actor pool and a two-cell benchmark grid on Ray Tune; Ray's
state API must show the work on both workers, and every output must be on the cluster's shared
storage, none on the driver's own temp dirs.

The unit checks at the top run by default; the cluster tests are slow (about 3 minutes on a
2-core machine): `python -m pytest -m slow tests/engine/test_multinode.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fsspec
import numpy as np
import pytest

from engine import cluster
from engine._internal import ray_runtime, ray_train
from tests.engine.test_cluster import _group

ROOT = cluster.PROJECT_ROOT
WORKER_CPUS = 3  # a scoring actor (1.6 CPUs) or a trial (2 CPUs) fits once per worker
SCORING_ACTOR_CPUS = 1.6  # two never fit on one worker; 1.4 CPUs stay free for read tasks
CPUS_PER_TRIAL = 2


# --- units ---------------------------------------------------------------------------------


def test_ray_train_runs_get_their_own_directory_on_the_shared_storage(monkeypatch):
    monkeypatch.setenv(ray_runtime.STORAGE_ENV, "s3://bucket/scratch/")
    storage, run, directory = ray_train.run_storage("fit")
    assert storage == "s3://bucket/scratch/"
    assert run.startswith("duse-fit-") and directory == f"s3://bucket/scratch/{run}"
    assert ray_train.run_storage("fit")[1] != run  # runs of several trials share the storage
    monkeypatch.setenv(ray_runtime.STORAGE_ENV, " ")
    assert ray_runtime.shared_storage() is None


def test_without_shared_storage_ray_train_warns_on_a_multi_node_cluster(monkeypatch, caplog):
    monkeypatch.delenv(ray_runtime.STORAGE_ENV, raising=False)
    monkeypatch.setattr(ray_runtime, "alive_nodes", lambda: 2)
    with caplog.at_level("WARNING", logger="duse"):
        storage, run, directory = ray_train.run_storage("wgan-gp")
    try:
        assert storage == directory and run == "wgan-gp" and os.path.isdir(storage)
        assert Path(storage).name.startswith("duse-wgan-gp-")
        assert "DUSE_RAY_STORAGE is not set" in caplog.text
    finally:
        ray_train._remove_run(directory)
    assert not os.path.exists(storage)
    monkeypatch.setattr(ray_runtime, "alive_nodes", lambda: 1)
    caplog.clear()
    ray_train._remove_run(ray_train.run_storage("fit")[2])
    assert "DUSE_RAY_STORAGE" not in caplog.text  # one node: the driver's disk is the cluster's


def test_a_run_directory_is_removed_through_its_uri(tmp_path):
    run = tmp_path / "duse-fit-abc" / "checkpoint_1"
    run.mkdir(parents=True)
    (run / "result.pt").write_bytes(b"weights")
    ray_train._remove_run(f"file://{tmp_path}/duse-fit-abc")
    assert not (tmp_path / "duse-fit-abc").exists()
    ray_train._remove_run(f"file://{tmp_path}/duse-fit-abc")  # already gone: fine


def test_the_state_file_records_every_node(tmp_path):
    workers = tuple(
        cluster.LocalWorker(100 + i, f"duse_worker_{i}", f"127.0.0.{2 + i}", 2, f"/w{i}")
        for i in (1, 2)
    )
    head = cluster.LocalHead(
        99, "127.0.0.2:1", "http://127.0.0.1:2", "/r", str(tmp_path), "disabled", workers, "/s"
    )
    cluster._write_state(tmp_path, head)
    assert cluster._read_state(tmp_path) == head
    assert head.pids == [102, 101, 99]  # workers first, the head last
    assert head.client_env()["DUSE_RAY_STORAGE"] == "/s"
    with pytest.raises(ValueError, match="workers >= 0"):
        cluster.start_local_head(tmp_path, workers=-1)


# --- a head and two workers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def base():
    """Short (unix socket paths); the cluster's state and storage, and the driver's temp dir."""
    path = Path(tempfile.mkdtemp(prefix="dmn", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _local_sh(*args: str) -> str:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHON": sys.executable}
    result = subprocess.run(
        [str(ROOT / "cluster" / "local.sh"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def head(base):
    state = str(base / "c")
    printed = _local_sh(
        "start",
        "--dir",
        state,
        "--num-cpus",
        "0",
        "--workers",
        "2",
        "--worker-cpus",
        str(WORKER_CPUS),
        "--object-store-mb",
        "256",
    )
    try:
        head = cluster.local_head(state)
        assert head is not None and len(head.workers) == 2, printed
        yield head
    finally:
        cluster.stop_local_head(state)  # no-op when the last test stopped it already


@pytest.fixture(scope="module")
def driver(head, base):
    """This process joined to the cluster, as a job's driver on the head would be.

    The driver's temp dir is redirected to ``base/driver-tmp`` so the tests can tell that
    nothing lands there. A Ray this process already runs (the session's ``ray_session``) is
    stopped first and a local one like it started again afterwards.
    """
    import ray
    from ray.data import DataContext

    had_local_ray = ray.is_initialized()
    if had_local_ray:
        ray.shutdown()
    driver_tmp = base / "driver-tmp"
    driver_tmp.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        patch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)  # 127.0.0.1 node IPs
        patch.setenv(ray_runtime.STORAGE_ENV, f"file://{head.storage}/train")
        patch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")  # trials' result.json
        # The pool's 4 small shards as 4 blocks (not one 128 MiB bin), so both actors get some.
        patch.setenv("RAY_DATA_PARQUET_BIN_PACKING_BYTES", str(2**18))
        patch.setattr(tempfile, "tempdir", str(driver_tmp))
        ray.init(address=head.address, log_to_driver=False)
        context = DataContext.get_current()
        patch.setattr(context, "enable_progress_bars", False)
        patch.setattr(
            context, "wait_for_min_actors_s", 120
        )  # both actors up before the first block
        patch.setattr(context, "max_tasks_in_flight_per_actor", 1)
        try:
            yield ray
        finally:
            ray.shutdown()
    if had_local_ray:  # as tests/conftest.py starts it
        ray.init(
            address="local",
            num_cpus=4,
            include_dashboard=False,
            log_to_driver=False,
            _temp_dir=tempfile.mkdtemp(prefix="rt", dir="/tmp"),
        )


@pytest.fixture(scope="module")
def workers(driver, head) -> dict[str, str]:
    """Node id of each worker, by its marker resource."""
    found = {}
    for node in driver.nodes():
        for worker in head.workers:
            if node["Alive"] and worker.resource in node["Resources"]:
                found[worker.resource] = node["NodeID"]
    return found


@pytest.fixture(scope="module")
def dataset(driver, head):
    """880 rml2016a frames in 4 shards on the shared storage, named by a URI, and a split."""
    from engine.data.generate import generate
    from engine.data.splits import make_split
    from engine.data.store import read_index

    uri = f"file://{head.storage}/data"
    generate("rml2016a", uri, scale=0.004, seed=0, executor="local", shard_bytes=2**18)
    return uri, make_split(read_index(uri), 11, test=0.2, target=0.1, seed=0)


def _nodes_that_ran(
    ray, head: cluster.LocalHead, name: str, *, finished: bool = True, timeout_s: float = 30.0
) -> set[str]:
    """Node ids of this driver's tasks called ``name``, finished ones only by default.

    From Ray's state API, asked at this head's address (left to itself it looks for GCS
    processes and finds other users' clusters too); the name is matched here, since the
    server-side ``name`` filter misses Tune's trial tasks. Task events arrive a moment after
    the tasks change state.
    """
    from ray.util.state import list_tasks

    job = ray.get_runtime_context().get_job_id()
    deadline = time.monotonic() + timeout_s
    while True:
        tasks = list_tasks(
            address=head.dashboard_url, filters=[("job_id", "=", job)], detail=True, limit=10_000
        )
        nodes = {
            task.node_id
            for task in tasks
            if task.name == name and task.node_id and (task.state == "FINISHED" or not finished)
        }
        if len(nodes) >= 2 or time.monotonic() > deadline:
            return nodes
        time.sleep(1)


@pytest.mark.slow
def test_the_cluster_is_a_head_without_cpus_and_two_workers(head, driver, workers):
    nodes = {node["NodeID"]: node for node in driver.nodes() if node["Alive"]}
    assert len(nodes) == 3 and len(set(workers.values())) == 2
    assert driver.get_runtime_context().get_node_id() not in workers.values()  # on the head
    head_node = next(node for node in nodes.values() if node["NodeID"] not in workers.values())
    assert head_node["Resources"].get("CPU", 0) == 0
    assert head_node["NodeManagerAddress"] == head.address.rsplit(":", 1)[0] == "127.0.0.2"
    for worker in head.workers:
        node = nodes[workers[worker.resource]]
        assert node["Resources"]["CPU"] == WORKER_CPUS
        assert node["NodeManagerAddress"] == worker.ip
        assert Path(worker.temp_dir, "session_latest").is_dir()  # its own temp dir
    assert len({head.temp_dir, *(worker.temp_dir for worker in head.workers)}) == 3


@pytest.fixture(scope="module")
def model(driver, dataset, head):
    """A cnn1d trained by Ray Train on a worker (the head has no CPUs), and what its run left
    on the shared storage just before it was removed."""
    from engine.training import TrainConfig, fit

    uri, split = dataset
    seen = []

    def recording(directory: str) -> None:
        fs, path = fsspec.core.url_to_fs(directory)
        seen.append((directory, sorted(fs.find(path))))
        remove(directory)

    remove = ray_train._remove_run
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray_train, "_remove_run", recording)
        config = TrainConfig(epochs=1, batch_size=64, workers=1, cpus_per_worker=1)
        result = fit("cnn1d", uri, split.target_ids, config)
    return result, seen


@pytest.mark.slow
def test_ray_train_keeps_its_checkpoint_on_the_shared_storage(model, head, base):
    result, seen = model
    assert len(result.history) == 1
    [(directory, files)] = seen
    assert directory.startswith(f"file://{head.storage}/train/duse-fit-")
    assert any(name.endswith("/result.pt") for name in files)  # written on a worker
    assert not Path(directory.removeprefix("file://")).exists()  # removed once read back
    assert [p.name for p in (base / "driver-tmp").iterdir() if p.name.startswith("duse-")] == []


@pytest.mark.slow
def test_a_scoring_pass_runs_its_actors_on_both_workers(driver, head, workers, dataset, model):
    from engine.scoring import ScoringConfig, score_and_select, score_pool
    from engine.selection import select
    from scorers import get_scorer

    uri, split = dataset
    config = ScoringConfig(
        executor="ray",
        batch_size=64,
        actors=2,
        cpus_per_actor=SCORING_ACTOR_CPUS,
        threads_per_actor=1,
    )
    scorer = get_scorer("margin")
    selected = score_and_select(
        model[0],
        uri,
        split.pool_ids,
        scorer,
        22,
        balanced=True,
        num_classes=11,
        rng=np.random.default_rng(0),
        config=config,
    )
    used = _nodes_that_ran(driver, head, "MapWorker(MapBatches(PoolWorker)).submit")
    assert used == set(workers.values())  # every batch on a worker, and on both
    # the selection a pass in this process makes
    local = score_pool(model[0], uri, split.pool_ids, scorer, ScoringConfig(executor="local"))
    rng = np.random.default_rng(0)
    expected = select(
        local.ids, local.scores, local.labels, 22, balanced=True, num_classes=11, rng=rng
    )
    np.testing.assert_array_equal(selected.ids, expected)
    assert np.bincount(selected.labels, minlength=11).tolist() == [2] * 11


@pytest.mark.slow
def test_a_benchmark_grid_runs_its_trials_on_both_workers_into_shared_storage(
    driver, workers, dataset, head, base
):
    from engine.benchmark import BenchmarkConfig, run_benchmark

    uri, _ = dataset
    out = f"{head.storage}/bench"  # the benchmark writes with file APIs: a shared path
    values = {
        "data": uri,
        "out": out,
        "methods": ["random"],
        "rates": [0.1],
        "seeds": [0, 1],
        "model": "cnn1d",
        "eval_models": ["cnn1d"],
        "split": {"test": 0.2, "target": 0.1},
        "train": {"epochs": 1, "batch_size": 64},
        "scoring": {"executor": "local", "batch_size": 256},
        "figures": False,
        "tune": {"max_concurrent_trials": 2, "cpus_per_trial": CPUS_PER_TRIAL},
    }
    result = run_benchmark(BenchmarkConfig.from_dict(values))
    assert not result.failed and len(result.runs) == 2
    # a trial's train task ends with its (reused) actor, so it may still read RUNNING
    ran = _nodes_that_ran(driver, head, "cell_trial.train", finished=False)
    assert ran == set(workers.values())

    # Tune's experiment and every trial's result.json under storage_path = <out>/tune
    experiment = Path(out, "tune", "benchmark")
    assert list(experiment.glob("experiment_state-*.json"))
    trials = sorted(path for path in experiment.iterdir() if path.name.startswith("cell_trial"))
    assert len(trials) == 2
    trial_ips = set()
    for trial in trials:
        reported = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert reported[-1]["cell"].startswith(f"{out}/cells/random/rate-0.1/seed-")
        assert 0 <= reported[-1]["accuracy"] <= 1
        trial_ips.add(reported[-1]["node_ip"])  # Tune's own record of where the trial ran
    assert trial_ips == {worker.ip for worker in head.workers}
    cells = sorted(Path(out, "cells").glob("random/rate-0.1/seed-*/cell.json"))
    assert [path.parent.name for path in cells] == ["seed-0", "seed-1"]
    for cell in cells:
        manifest = json.loads(cell.read_text())["manifest"]
        assert manifest.startswith(f"{out}/cells/") and Path(manifest).exists()
    assert Path(out, "results.md").exists() and Path(out, "results.json").exists()

    # nothing the cells wrote is on the driver's side: its temp dir, its node's Ray temp dir
    # (where Tune stages only its own driver-side logs before copying them to storage_path)
    assert [p.name for p in (base / "driver-tmp").iterdir() if p.name.startswith("duse-")] == []
    for name in ("cell.json", "manifest.parquet", "result.pt", "results.json", "splits.json"):
        assert not list(Path(head.temp_dir).rglob(name)), name


@pytest.mark.slow
def test_local_sh_stops_the_workers_and_the_head_by_their_pids(head, driver):
    driver.shutdown()  # the driver leaves first, as a job would
    pids = head.pids
    assert all(_group(pid) for pid in pids)  # every node's process group is running
    printed = _local_sh("stop", "--dir", head.state_dir)
    assert f"stopped the head in {head.state_dir}" in printed
    deadline = time.monotonic() + 15
    while any(_group(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in pids if _group(pid)] == []
    assert cluster.local_head(head.state_dir) is None
    assert Path(head.storage, "bench", "results.md").exists()  # the storage outlives the cluster
