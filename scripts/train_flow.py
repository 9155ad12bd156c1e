"""Train the flow model: `accelerate launch scripts/train_flow.py --config configs/flow/tiny.yaml [key=value ...] [--resume]`.

Also runs under `torchrun --nproc_per_node N` and as a plain `python` script.
"""
import sys

from meshflow.commands.train import main

if __name__ == "__main__":
    sys.exit(main("flow"))
