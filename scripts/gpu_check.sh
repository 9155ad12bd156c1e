#!/usr/bin/env bash
# The prepared GPU check, at most 9 minutes on one H100/H200:
#   bash scripts/gpu_check.sh [--original PATH] [--dry-run]
# 1. the tests marked `gpu` (pytest -m gpu);
# 2. scripts/bench_vs_original.py on CUDA in float32, then bfloat16 (autocast): the original (when
#    --original PATH or $AAM_ORIGINAL names a checkout of it) beside meshflow at 5k, 10k, 20k, 50k
#    vertices, paper sizes, K = max(512, N // 8), with the paper's own times (3.95 / 5.99 / 10.68 /
#    21.86 s at 5k / 10k / 20k / 50k, its GPU, end to end) in the last column;
# 3. meshflow alone at 200k and 1M vertices (K capped at 8,192 as meshflow's default; VAE round trip
#    and one sampler step, the 64-step sample estimated), fp32 and bf16;
# 4. the proxy path end to end (scripts/bench_proxy.py at 100k and 1M) when `meshflow animate` has --proxy.
# Results: OUT (default ./work/gpu_check): one .txt (the printed tables) and one .json per benchmark,
# and gpu_check.log with everything. Each step gets a share of TIME_BUDGET (default 530 s) and is cut
# at it (`timeout`); a step that is cut says so and the next one runs.
# --dry-run: print the plan and the table headers, run nothing on a GPU, write nothing (works on a CPU).
#
# Environment (optional): PYTHON (default .venv/bin/python, else python3), OUT, TIME_BUDGET, AAM_ORIGINAL.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DRY=0
ORIGINAL="${AAM_ORIGINAL:-}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --original) ORIGINAL="${2:?--original needs a PATH}"; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown option '$1' (expected --original PATH or --dry-run)" >&2; exit 2 ;;
    esac
    shift
done
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-$ROOT/work/gpu_check}"
TIME_BUDGET="${TIME_BUDGET:-530}"
START=$SECONDS
BENCH=(scripts/bench_vs_original.py --device cuda --json)

if [[ -n "$ORIGINAL" && ! -f "$ORIGINAL/networks/dymeshvae.py" ]]; then
    echo "gpu_check.sh: --original $ORIGINAL: not a checkout of AnimateAnyMesh (no networks/dymeshvae.py)" >&2
    exit 2
fi
if [[ -n "$ORIGINAL" ]]; then SIDE=(--original "$ORIGINAL"); else SIDE=(--no-original); fi
PROXY=0
if grep -q -- '"--proxy"' meshflow/commands/animate.py 2>/dev/null && [[ -f scripts/bench_proxy.py ]]; then PROXY=1; fi

# name | share of the budget (percent) | command
STEPS=(
    "gpu-tests|8|$PYTHON -m pytest -q -m gpu tests"
    "bench-fp32|27|$PYTHON ${BENCH[*]} \$OUT/bench_fp32.json ${SIDE[*]} --sizes 5000 10000 20000 50000 --dtype float32"
    "bench-bf16|22|$PYTHON ${BENCH[*]} \$OUT/bench_bf16.json ${SIDE[*]} --sizes 5000 10000 20000 50000 --dtype bfloat16 --no-stages"
    "large-fp32|15|$PYTHON ${BENCH[*]} \$OUT/large_fp32.json --no-original --tokens capped --sizes 200000 1000000 --only vae step --full-sample-max 0 --dtype float32"
    "large-bf16|13|$PYTHON ${BENCH[*]} \$OUT/large_bf16.json --no-original --tokens capped --sizes 200000 1000000 --only vae step --full-sample-max 0 --dtype bfloat16 --no-stages"
)
if [[ $PROXY == 1 ]]; then
    STEPS+=("proxy|15|$PYTHON scripts/bench_proxy.py --skip-fidelity --sizes 100000 1000000 --folder \$OUT/proxy")
fi

echo "# gpu_check: budget ${TIME_BUDGET}s, OUT=$OUT, original: ${ORIGINAL:-none (meshflow only)}, proxy path: $([[ $PROXY == 1 ]] && echo yes || echo 'no (--proxy not in meshflow animate)')"
echo "# paper (AnimateAnyMesh, its GPU, end to end): 5k 3.95 s | 10k 5.99 s | 20k 10.68 s | 50k 21.86 s"
if [[ $DRY == 1 ]]; then
    for step in "${STEPS[@]}"; do
        IFS='|' read -r name share cmd <<< "$step"
        echo "# plan: $name (<= $((TIME_BUDGET * share / 100)) s): $cmd"
    done
    "$PYTHON" scripts/bench_vs_original.py --dry-run --no-original --device cuda --sizes 5000 10000 20000 50000
    exit 0
fi

"$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
    || { echo "gpu_check.sh: no CUDA device (torch.cuda.is_available() is False); --dry-run works without one" >&2; exit 2; }
mkdir -p "$OUT"
export OUT
LOG="$OUT/gpu_check.log"
"$PYTHON" -c 'import torch; print("# device:", torch.cuda.get_device_name(0), "torch", torch.__version__)' | tee "$LOG"
status=0
for step in "${STEPS[@]}"; do
    IFS='|' read -r name share cmd <<< "$step"
    left=$((TIME_BUDGET - (SECONDS - START)))
    limit=$((TIME_BUDGET * share / 100))
    (( limit > left )) && limit=$left
    if (( limit < 10 )); then echo "## $name: skipped (budget spent)" | tee -a "$LOG"; continue; fi
    echo "## $name (<= ${limit}s): $cmd" | tee -a "$LOG"
    timeout --kill-after=10 "$limit" bash -c "$cmd" 2>>"$LOG" | tee "$OUT/$name.txt" | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    if [[ $rc == 124 || $rc == 137 ]]; then echo "## $name: cut at ${limit}s" | tee -a "$LOG"; status=1
    elif [[ $rc == 5 && $name == gpu-tests ]]; then echo "## $name: no tests marked gpu" | tee -a "$LOG"
    elif [[ $rc != 0 ]]; then echo "## $name: failed (exit $rc, see $LOG)" | tee -a "$LOG"; status=1; fi
done
echo "# gpu_check: $((SECONDS - START)) s, results in $OUT" | tee -a "$LOG"
exit $status
