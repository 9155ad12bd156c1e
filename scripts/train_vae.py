"""Train the vae model: `accelerate launch scripts/train_vae.py --config configs/vae/tiny.yaml [key=value ...] [--resume]`.

Also runs under `torchrun --nproc_per_node N` and as a plain `python` script.
"""
import sys

from meshflow.commands.train import main

if __name__ == "__main__":
    sys.exit(main("vae"))
