#!/usr/bin/env bash
# One-command setup of meshflow on a fresh machine (CPU):
#   bash scripts/setup.sh
# creates .venv/ (override with MESHFLOW_VENV), installs torch, compiles torch_cluster
# from source against it (about 10 minutes, once: the built wheel is cached in
# ~/.cache/meshflow/wheels, override with MESHFLOW_WHEEL_CACHE), then installs
# meshflow in editable mode with every dependency pinned by scripts/constraints.txt.
# Re-running it is cheap: every step is skipped when already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV="${MESHFLOW_VENV:-$ROOT/.venv}"
CONSTRAINTS="$ROOT/scripts/constraints.txt"
TORCH_VERSION="2.14.1"
TORCHVISION_VERSION="0.29.1"
TORCH_CLUSTER_VERSION="1.6.3"
CACHE="${MESHFLOW_WHEEL_CACHE:-$HOME/.cache/meshflow/wheels}/torch-$TORCH_VERSION-$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"

log() { printf '\n[meshflow setup] %s\n' "$*"; }

# System libraries for headless previews (OpenGL through EGL on Mesa's CPU renderer), and Chromium with its
# driver for the demo's browser test.
APT_PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri chromium chromium-driver)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing[*]} (Debian packages for headless previews)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "warning: ${missing[*]} missing; 'meshflow preview' needs the EGL/Mesa ones, the demo's browser test chromium (sudo apt-get install ${missing[*]})"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
# pip, quieter: drops this machine's notes about local index folders, keeps pip's exit status.
pip_q() { "${PIP[@]}" "$@" 2>&1 | { grep -v "is neither a file nor a directory" || true; }; return "${PIPESTATUS[0]}"; }

log "torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION"
pip_q install -q -c "$CONSTRAINTS" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" setuptools wheel

if ! "$PY" -c "import torch_cluster" >/dev/null 2>&1; then
  wheel=$(ls "$CACHE"/torch_cluster-"$TORCH_CLUSTER_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    log "compiling torch_cluster $TORCH_CLUSTER_VERSION from source against torch $TORCH_VERSION (about 10 minutes, once)"
    mkdir -p "$CACHE"
    # CPU kernels only: this machine has no GPU (CUDA users: see environment.yml).
    FORCE_ONLY_CPU=1 MAX_JOBS="${MAX_JOBS:-2}" pip_q wheel -q --no-build-isolation --no-deps \
      "torch_cluster==$TORCH_CLUSTER_VERSION" -w "$CACHE"
    wheel=$(ls "$CACHE"/torch_cluster-"$TORCH_CLUSTER_VERSION"-*.whl | head -n1)
  else
    log "torch_cluster from cached wheel $wheel"
  fi
  pip_q install -q --no-deps "$wheel"
fi

log "meshflow and its dependencies (with the demo extra)"
pip_q install -q -c "$CONSTRAINTS" -e "$ROOT[dev,demo]"

# The Khronos glTF validator (npm) for the tests that check every GLB meshflow writes; skipped without node.
GLTF_VALIDATOR_VERSION="2.0.0-dev.3.10"
if command -v npm >/dev/null 2>&1; then
  if [ ! -f "$ROOT/.tools/node_modules/gltf-validator/package.json" ]; then
    log "gltf-validator $GLTF_VALIDATOR_VERSION (npm) into .tools/"
    npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools" "gltf-validator@$GLTF_VALIDATOR_VERSION" >/dev/null \
      || log "warning: npm could not install gltf-validator; the glTF validation tests will be skipped"
  fi
else
  log "note: node/npm not found; the glTF validation tests will be skipped (apt-get install nodejs npm)"
fi
"$PY" -W ignore::FutureWarning -c "import torch, torch_geometric, torch_cluster, meshflow; print('meshflow', meshflow.__version__, '| torch', torch.__version__, '| pyg', torch_geometric.__version__, '| torch_cluster', torch_cluster.__version__)"
log "done: activate with  . $VENV/bin/activate"
