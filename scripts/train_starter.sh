#!/usr/bin/env bash
# Reproduces the bundled starter model (meshflow/pretrained/starter) on a 2-core CPU in about three hours:
#   bash scripts/train_starter.sh [SHARED_DIR] [WORK_DIR]
# SHARED_DIR holds data/quaternius (default ../shared); WORK_DIR receives clips and runs (default ./work).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${1:-$ROOT/../shared}"
WORK="${2:-$ROOT/work}"
PY="$ROOT/.venv/bin/python"
MF="$ROOT/.venv/bin/meshflow"
mkdir -p "$WORK"

# 1. data: real Quaternius clips + procedural motions on their rest poses and on the example meshes
"$PY" "$ROOT/scripts/make_procedural.py" "$SHARED/data/quaternius" "$ROOT/graphs/examples" -o "$WORK/procedural" --per-label 1
"$MF" data build "$SHARED/data/quaternius" "$WORK/procedural" -o "$WORK/clips" --frames 16

# 2. the VAE, then its latents once, then the flow on them
"$MF" train vae --config "$ROOT/configs/vae/starter.yaml" data.root="$WORK/clips" output_dir="$WORK/runs/vae-starter" --no-progress
"$MF" train cache-latents --vae "$WORK/runs/vae-starter/model" --data "$WORK/clips" -o "$WORK/latents" --tokens 128
"$MF" train flow --config "$ROOT/configs/flow/starter.yaml" data.root="$WORK/latents" latent_cache="$WORK/latents" \
    vae="$WORK/runs/vae-starter/model" output_dir="$WORK/runs/flow-starter" --no-progress

# 2b. fine-tune the flow with procedural motions on 200 random primitive assemblies added (shape diversity
#     for meshes it never saw); the VAE stays as it is
"$PY" "$ROOT/scripts/make_procedural.py" -o "$WORK/procedural-random" --random-meshes 200 --per-label 1
"$MF" data build "$SHARED/data/quaternius" "$WORK/procedural" "$WORK/procedural-random" -o "$WORK/clips-random" --frames 16
"$MF" train cache-latents --vae "$WORK/runs/vae-starter/model" --data "$WORK/clips-random" -o "$WORK/latents-random" --tokens 128
"$MF" train flow --config "$ROOT/configs/flow/starter.yaml" data.root="$WORK/latents-random" latent_cache="$WORK/latents-random" \
    vae="$WORK/runs/vae-starter/model" output_dir="$WORK/runs/flow-starter-ft" init_from="$WORK/runs/flow-starter/model" \
    train.max_steps=5000 optim.lr=2.0e-4 optim.warmup_steps=100 train.val_every=2500 --no-progress

# 2c. train the VAE on (session 12: its held-out error was still falling), then fine-tune the flow on the new
#     VAE's latents (a new VAE moves the latent space, so the flow has to follow)
"$MF" train vae --config "$ROOT/configs/vae/starter.yaml" data.root="$WORK/clips" output_dir="$WORK/runs/vae-longer" \
    init_from="$WORK/runs/vae-starter/model" train.max_steps=4500 optim.lr=3.0e-4 optim.warmup_steps=50 \
    train.val_every=1500 --no-progress
"$MF" train cache-latents --vae "$WORK/runs/vae-longer/model" --data "$WORK/clips-random" -o "$WORK/latents-longer" --tokens 128
"$MF" train flow --config "$ROOT/configs/flow/starter.yaml" data.root="$WORK/latents-longer" latent_cache="$WORK/latents-longer" \
    vae="$WORK/runs/vae-longer/model" output_dir="$WORK/runs/flow-longer" init_from="$WORK/runs/flow-starter-ft/model" \
    train.max_steps=3000 optim.lr=2.0e-4 optim.warmup_steps=100 train.val_every=3000 --no-progress

# 3. bundle it (float16 weights)
"$PY" - "$WORK/runs/flow-longer/model" "$ROOT/meshflow/pretrained/starter" "$ROOT/configs/flow/starter-sampling.json" <<'PYEOF'
import json, sys, torch
from pathlib import Path
from safetensors.torch import load_file
from meshflow.models.hub import load_model_config, save_model_dir
src, dst, sampling = sys.argv[1], sys.argv[2], sys.argv[3]
config = load_model_config(src)
extras = {k: v for k, v in config.items() if k not in ("format", "version", "components")}
# the sampler defaults `meshflow animate` uses with this model (its config.json "flow" section), chosen on
# validation meshes by scripts/sweep_sampling.py (held-out Quaternius files, never the evaluation suite's meshes)
extras["flow"] = json.loads(Path(sampling).read_text())
states = {name: load_file(f"{src}/{name}.safetensors") for name in ("vae", "mmdit")}
card = Path(dst, "MODEL_CARD.md")
card_text = card.read_text() if card.is_file() else None  # save_model_dir replaces the folder as a whole
save_model_dir(dst, config["components"], states, extras=extras, dtype=torch.float16)
if card_text is not None:
    card.write_text(card_text)
print("bundled", dst)
PYEOF

# 3b. its prompt vocabulary (vocabulary.json + features): the phrases of its training captions, for prompt
#     matching (the held-out files' clips are left out, as the trainers' split leaves them out)
"$PY" "$ROOT/scripts/caption_vocabulary.py" "$SHARED/data/quaternius" -o "$ROOT/meshflow/pretrained/starter"

# 4. the evaluation report next to it (REPORT.md, metrics.json, preview GIFs)
"$PY" "$ROOT/scripts/eval_report.py" --model "$ROOT/meshflow/pretrained/starter" --shared "$SHARED" \
    --work "$WORK/eval" -o "$ROOT/meshflow/pretrained/starter/eval" --seeds 1 --paraphrases-per-label 1
