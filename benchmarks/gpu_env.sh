#!/usr/bin/env bash
# The Python environment of benchmarks/gpu.sh and benchmarks/gpu_paper.sh, here and on a
# lent GPU machine.
#
#   bash benchmarks/gpu_env.sh bundle     # here, once: build .gpu-env/site.tar.xz (31 MB)
#   bash benchmarks/gpu_env.sh check      # which interpreter, Ray and torch the scripts get
#   . benchmarks/gpu_env.sh; gpu_env_activate   # in the scripts: sets PY and PYTHONPATH
#
# Here the scripts use .venv/bin/python (GPU_ENV_PY overrides). The GPU machine (the device
# tool's KINDS.md) has only its image's python3 (3.12, torch with CUDA, numpy, pyarrow, pandas,
# scipy, sklearn, matplotlib, h5py, yaml, fsspec, tqdm) and no package index: Ray, pydantic and
# a few of their needs are missing, and Ray's wheel alone (79 MB) is over the device tool's
# 64 MiB per call. `bundle` downloads their CPython 3.12 manylinux wheels from PyPI here,
# unpacks them, drops the parts of Ray this project never loads (Java jars, RLlib, Serve, the
# LLM library, the dashboard's web client) and writes, xz-compressed,
# .gpu-env/site.tar.xz, ignored by git through .git/info/exclude. Carry `.gpu-env` in the
# device run (run's `carry: [".gpu-env"]`); gpu_env_activate unpacks it into /tmp/duse-site
# when python3 cannot import ray and pydantic, and puts the repository on PYTHONPATH so Ray's
# workers import engine, models and scorers.

GPU_ENV_DIR=".gpu-env"
GPU_ENV_BUNDLE="$GPU_ENV_DIR/site.tar.xz"
GPU_ENV_SITE="${GPU_ENV_SITE:-/tmp/duse-site}"
# Pinned to the versions of this project's .venv (pyproject.toml pins ray 2.60.0).
GPU_ENV_WHEELS=(
    ray==2.60.0 pydantic==2.14.4 pydantic_core==2.50.5 annotated_types==0.8.0
    typing_inspection==0.4.5 jsonschema==4.26.0 jsonschema_specifications==2025.9.1
    referencing==0.37.0 rpds_py==2026.9.1 tensorboardX==2.6.5
)

# GPU_ENV_PY if set (the tests pass their interpreter), else .venv/bin/python, else python3.
gpu_env_python() {
    if [ -n "${GPU_ENV_PY:-}" ]; then
        echo "$GPU_ENV_PY"
    elif [ -x .venv/bin/python ]; then
        echo .venv/bin/python
    else
        echo python3
    fi
}

# Sets PY (the interpreter) and PYTHONPATH; unpacks the bundle when ray or pydantic is missing.
gpu_env_activate() {
    PY=$(gpu_env_python)
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    # GPU_ENV_FORCE_BUNDLE=1: use the bundle even where ray imports (to test the bundle here)
    if [ -n "${GPU_ENV_FORCE_BUNDLE:-}" ] || ! "$PY" -c "import ray, pydantic" 2>/dev/null; then
        if [ ! -f "$GPU_ENV_BUNDLE" ]; then
            echo "gpu_env: $PY cannot import ray and pydantic, and $GPU_ENV_BUNDLE is missing:" \
                "run 'bash benchmarks/gpu_env.sh bundle' on the development machine and carry" \
                "$GPU_ENV_DIR" >&2
            return 2
        fi
        if [ ! -d "$GPU_ENV_SITE/ray" ]; then
            echo "gpu_env: unpacking $GPU_ENV_BUNDLE into $GPU_ENV_SITE"
            mkdir -p "$GPU_ENV_SITE"
            "$PY" -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" \
                "$GPU_ENV_BUNDLE" "$GPU_ENV_SITE"
        fi
        export PYTHONPATH="$GPU_ENV_SITE:$PYTHONPATH"
        "$PY" -c "import ray, pydantic" || return 2
    fi
    export RAY_USAGE_STATS_ENABLED=0
    echo "gpu_env: $("$PY" -c 'import os, sys, ray, torch; print(sys.executable, "python",
        sys.version.split()[0], "ray", ray.__version__, "from", os.path.dirname(ray.__file__),
        "torch", torch.__version__, "cuda", torch.cuda.is_available())')"
}

gpu_env_bundle() {
    local python_version="${GPU_ENV_PYTHON_VERSION:-3.12}" stage
    stage=$(mktemp -d)
    mkdir -p "$GPU_ENV_DIR"
    grep -qxF "/$GPU_ENV_DIR/" .git/info/exclude 2>/dev/null ||
        echo "/$GPU_ENV_DIR/" >>.git/info/exclude
    "$(gpu_env_python)" -m pip download -q --no-deps --only-binary=:all: \
        --python-version "$python_version" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$stage/wheels" "${GPU_ENV_WHEELS[@]}"
    # unzip keeping the files' modes (Ray's raylet and gcs_server must stay executable)
    "$(gpu_env_python)" - "$stage/site" "$stage"/wheels/*.whl <<'PYTHON'
import os, sys, zipfile
for wheel in sys.argv[2:]:
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            path = archive.extract(info, sys.argv[1])
            mode = info.external_attr >> 16
            if mode and not info.is_dir():
                os.chmod(path, mode & 0o777)
PYTHON
    rm -rf "$stage"/site/ray/{jars,rllib,serve,llm} "$stage/site/ray/dashboard/client/build"
    tar -C "$stage/site" -cf - . | nice xz -6 -T1 >"$GPU_ENV_BUNDLE"
    rm -rf "$stage"
    ls -l "$GPU_ENV_BUNDLE"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    cd "$(dirname "$0")/.."
    case "${1:-}" in
    bundle) gpu_env_bundle ;;
    check) gpu_env_activate ;;
    *)
        echo "usage: bash benchmarks/gpu_env.sh bundle|check" >&2
        exit 2
        ;;
    esac
fi
