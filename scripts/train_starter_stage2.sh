#!/usr/bin/env bash
# Stage two of the starter recipe, an experiment measured in the starter model's card and NOT bundled
# (it did not beat the bundled model): more procedural data, the stage-one VAE and flow fine-tuned on it.
#   bash scripts/train_starter_stage2.sh [SHARED_DIR] [WORK_DIR]
# Needs the stage-one runs of scripts/train_starter.sh in WORK_DIR (runs/vae-starter, runs/flow-starter-ft).
# The token-skinning decoder variant: configs/vae/starter-skin.yaml in place of starter-stage2.yaml.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${1:-$ROOT/../shared}"
WORK="${2:-$ROOT/work}"
PY="$ROOT/.venv/bin/python"
MF="$ROOT/.venv/bin/meshflow"

# 1. More data: procedural motions, 2 variants per label, on the rest poses and examples, and on 300
#     new random assemblies
"$PY" "$ROOT/scripts/make_procedural.py" "$SHARED/data/quaternius" "$ROOT/graphs/examples" -o "$WORK/procedural2" --per-label 2 --seed 1
"$PY" "$ROOT/scripts/make_procedural.py" -o "$WORK/procedural2-random" --random-meshes 300 --per-label 1 --seed 2
"$MF" data build "$SHARED/data/quaternius" "$WORK/procedural2" "$WORK/procedural2-random" -o "$WORK/clips2" --frames 16

# 2. the VAE fine-tuned on them (the paper's offset decoder: configs/vae/starter-skin.yaml, the token-skinning
#     decoder, measured worse at the same budget), its latents, and the flow fine-tuned on those
"$MF" train vae --config "$ROOT/configs/vae/starter-stage2.yaml" data.root="$WORK/clips2" \
    init_from="$WORK/runs/vae-starter/model" output_dir="$WORK/runs/vae-starter-stage2" --no-progress
"$MF" train cache-latents --vae "$WORK/runs/vae-starter-stage2/model" --data "$WORK/clips2" -o "$WORK/latents2" --tokens 128
"$MF" train flow --config "$ROOT/configs/flow/starter-stage2.yaml" data.root="$WORK/latents2" latent_cache="$WORK/latents2" \
    vae="$WORK/runs/vae-starter-stage2/model" init_from="$WORK/runs/flow-starter-ft/model" \
    output_dir="$WORK/runs/flow-starter-stage2" --no-progress

"$PY" "$ROOT/scripts/eval_report.py" --model "$WORK/runs/flow-starter-stage2/model" --shared "$SHARED" \
    --work "$WORK/eval-stage2" -o "$WORK/eval-stage2/report" --seeds 1 --paraphrases-per-label 1
