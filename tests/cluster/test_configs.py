"""The shipped cluster configs: the launcher YAML against Ray's own schema, the KubeRay
manifests for the fields the operator needs, and no secrets anywhere."""

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
RAY_VERSION = ray.__version__
# A token-shaped string, a private key or an AWS key id: none may sit in a shipped config.
SECRET = re.compile(
    r"(?i)(BEGIN [A-Z ]*PRIVATE KEY|AKIA[0-9A-Z]{16}|(token|password|secret)[\"']?\s*[:=]\s*"
    r"[\"']?[A-Za-z0-9+/_\-]{16,})"
)


def _yaml(name: str):
    return yaml.safe_load((CLUSTER / name).read_text())


def _ray_schema() -> dict:
    return json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


def test_launcher_yaml_is_valid_against_rays_schema_before_and_after_defaults():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _yaml("aws-gpu.yaml")
    jsonschema.validate(config, _ray_schema())  # the file as written
    validate_config(prepare_config(config))  # and with Ray's defaults filled in, as `ray up`


def test_the_schema_check_is_not_vacuous():
    config = _yaml("aws-gpu.yaml")
    config["available_node_types"]["gpu_worker"]["resources"] = {"GPU": 0.5}
    with pytest.raises(jsonschema.ValidationError, match="integer"):
        jsonschema.validate(config, _ray_schema())
    del config["provider"]
    with pytest.raises(jsonschema.ValidationError, match="provider"):
        jsonschema.validate(config, _ray_schema())


def test_launcher_has_a_head_and_a_gpu_group_with_token_auth_and_rays_version():
    config = _yaml("aws-gpu.yaml")
    nodes = config["available_node_types"]
    assert config["head_node_type"] == "head" and set(nodes) == {"head", "gpu_worker"}
    assert nodes["gpu_worker"]["resources"]["GPU"] == 1
    assert nodes["gpu_worker"]["max_workers"] <= config["max_workers"]
    assert config["docker"]["image"].startswith(f"rayproject/ray:{RAY_VERSION}-")
    assert f"ray[default,data,train,tune]=={RAY_VERSION}" in config["setup_commands"][0]
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token ray start" in line for line in starts if "ray start" in line)
    assert "--dashboard-host=127.0.0.1" in " ".join(config["head_start_ray_commands"])
    assert config["file_mounts"] == {"~/.ray/auth_token": "~/.ray/auth_token"}  # a path, no token


def _containers(spec: dict) -> list[tuple[str, dict]]:
    groups = [("head", spec["headGroupSpec"])]
    groups += [(group["groupName"], group) for group in spec["workerGroupSpecs"]]
    return [(name, c) for name, group in groups for c in group["template"]["spec"]["containers"]]


def _check_cluster_spec(spec: dict) -> None:
    assert spec["rayVersion"] == RAY_VERSION
    assert spec["authOptions"] == {"mode": "token"}
    assert isinstance(spec["headGroupSpec"]["rayStartParams"], dict)
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["name"] == "ray-head"
    assert {port["containerPort"] for port in head["ports"]} >= {6379, 8265}
    gpu_groups = 0
    for group in spec["workerGroupSpecs"]:
        assert {"groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams"} <= set(
            group
        )
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        worker = group["template"]["spec"]["containers"][0]
        assert worker["name"] == "ray-worker"
        limits = worker["resources"]["limits"]
        if "nvidia.com/gpu" in limits:
            gpu_groups += 1
            assert limits["nvidia.com/gpu"] >= 1
            assert worker["resources"]["requests"]["nvidia.com/gpu"] == limits["nvidia.com/gpu"]
    assert gpu_groups >= 1
    images = {container["image"] for _, container in _containers(spec)}
    assert len(images) == 1  # head and workers run the same code
    for _, container in _containers(spec):
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert "env" not in container  # the operator injects RAY_AUTH_TOKEN, nothing inline


def test_raycluster_manifest_has_the_fields_kuberay_needs():
    manifest = _yaml("kuberay/raycluster.yaml")
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayCluster"
    assert manifest["metadata"]["name"]
    _check_cluster_spec(manifest["spec"])


def test_rayjob_manifest_runs_a_job_module_on_its_own_cluster():
    manifest = _yaml("kuberay/rayjob.yaml")
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayJob"
    spec = manifest["spec"]
    words = spec["entrypoint"].split()
    assert words[:3] == ["python", "-m", words[2]] and words[2].startswith("jobs.")
    module = words[2].removeprefix("jobs.")
    assert (CLUSTER.parent / "jobs" / f"{module}.py").exists()
    config = words[words.index("--config") + 1]
    assert (CLUSTER.parent / config).exists()
    out = words[words.index("--out") + 1]
    mounts = [
        mount["mountPath"]
        for _, container in _containers(spec["rayClusterSpec"])
        for mount in container.get("volumeMounts", [])
    ]
    assert len(mounts) == 2 and all(out.startswith(f"{path}/") for path in mounts)  # shared
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"] == "/home/ray/duse"  # where cluster/Dockerfile puts it
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0
    _check_cluster_spec(spec["rayClusterSpec"])


def test_dockerfile_builds_on_the_pinned_ray_image_and_bakes_the_packages():
    text = (CLUSTER / "Dockerfile").read_text()
    assert re.search(rf"^FROM rayproject/ray:{re.escape(RAY_VERSION)}-py311-gpu$", text, re.M)
    assert "WORKDIR /home/ray/duse" in text
    for package in ("engine", "scorers", "models", "jobs"):
        assert f"COPY --chown=ray:users {package} {package}" in text


def test_no_secrets_in_cluster_or_job_configs():
    paths = [*CLUSTER.rglob("*"), *(CLUSTER.parent / "jobs" / "configs").glob("*.yaml")]
    files = [path for path in paths if path.is_file()]
    assert len(files) >= 6
    for path in files:
        assert not SECRET.search(path.read_text()), path
    assert SECRET.search("token: 'abcdefghijklmnopqrstuvwx'")  # the pattern does match secrets


def test_local_sh_rejects_unknown_verbs():
    result = subprocess.run(
        [str(CLUSTER / "local.sh"), "restart"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "usage:" in result.stderr
