#!/usr/bin/env bash
# Multi-node training on DyMesh archives (2 nodes x 8 GPUs by default): run the same line on every node.
#
#   MASTER_ADDR=10.0.0.1 NODE_RANK=0 bash scripts/launch_multinode.sh DATA_DIR [OUTPUT_DIR] [key=value ...]
#   MASTER_ADDR=10.0.0.1 NODE_RANK=1 bash scripts/launch_multinode.sh DATA_DIR [OUTPUT_DIR] [key=value ...]
#
# DATA_DIR holds the archive groups (DyMesh_*_part_NN, or shards from `meshflow data shards`); every node
# reads it (a shared file system, or the same copy on each node). OUTPUT_DIR (default runs/vae-paper-2x8)
# must be shared too: checkpoints are written by the main process and read by all on resume. The run
# resumes from OUTPUT_DIR's newest checkpoint when there is one, so a restarted job goes on.
#
# Environment (all optional):
#   KIND=vae                  vae or flow (flow needs vae=MODEL_DIR among the overrides)
#   CONFIG                    training config (default: configs/KIND/paper.yaml)
#   ACCELERATE_CONFIG         accelerate config (default: configs/accelerate/2x8.yaml)
#   MASTER_ADDR, MASTER_PORT  node 0's address and a free port (default 127.0.0.1, 29500)
#   NODE_RANK                 this node's rank, 0 .. num_machines - 1 (default 0)
#   WORKERS=8                 data.num_workers per GPU process (archive readers)
#   ACCELERATE_ARGS           more `accelerate launch` flags, e.g. "--num_machines 1 --num_processes 8"
#   PYTHON                    interpreter (default: .venv/bin/python, else python3)
#   DRY_RUN=1                 print the command instead of running it
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "launch_multinode.sh: error: $*" >&2; exit 2; }
[[ $# -ge 1 ]] || die "usage: launch_multinode.sh DATA_DIR [OUTPUT_DIR] [key=value ...]"
DATA="$1"; shift
OUTPUT="runs/vae-paper-2x8"
if [[ $# -ge 1 && "$1" != *=* ]]; then OUTPUT="$1"; shift; fi
KIND="${KIND:-vae}"
[[ "$KIND" == vae || "$KIND" == flow ]] || die "KIND=$KIND: expected vae or flow"
CONFIG="${CONFIG:-$ROOT/configs/$KIND/paper.yaml}"
ACCELERATE_CONFIG="${ACCELERATE_CONFIG:-$ROOT/configs/accelerate/2x8.yaml}"
[[ -e "$DATA" ]] || die "$DATA: no such folder (the archive parts)"
[[ -f "$CONFIG" ]] || die "$CONFIG: config file not found"
[[ -f "$ACCELERATE_CONFIG" ]] || die "$ACCELERATE_CONFIG: accelerate config not found"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"
# shellcheck disable=SC2206
EXTRA=(${ACCELERATE_ARGS:-})
CMD=("$PYTHON" -m accelerate.commands.launch --config_file "$ACCELERATE_CONFIG"
     --machine_rank "${NODE_RANK:-0}" --main_process_ip "${MASTER_ADDR:-127.0.0.1}"
     --main_process_port "${MASTER_PORT:-29500}" "${EXTRA[@]}"
     "$ROOT/scripts/train_$KIND.py" --config "$CONFIG" --resume --no-progress
     data.source=dymesh-archives "data.root=$DATA" "data.num_workers=${WORKERS:-8}" "output_dir=$OUTPUT" "$@")
if [[ -n "${DRY_RUN:-}" ]]; then printf '%q ' "${CMD[@]}"; echo; exit 0; fi
exec "${CMD[@]}"
