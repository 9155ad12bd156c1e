"""Writes a model's prompt vocabulary (``vocabulary.json`` in its directory): the phrases of its training captions.

    python scripts/caption_vocabulary.py QUATERNIUS_DIR... -o MODEL_DIR [--val-fraction 0.05]

The phrases are the captions without their subject (``meshflow.models.text.vocabulary``):
every phrasing of the procedural motions (``meshflow.data.motions.motion_phrases``) and the
phrase of every animation clip of the glTF files under the folders given
(``meshflow.data.clips.phrase_for``, "gallops" of "a horse gallops"), except the files the
trainers' split holds out (whole files, ``--val-fraction`` as in the data config), so that a
held-out clip's caption is not in it. ``meshflow animate --match-prompt`` reads a prompt as
its closest phrase. The phrases' features for ``--encoder`` go beside it (``vocabulary.safetensors``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshflow.data.clips import phrase_for  # noqa: E402
from meshflow.data.motions import motion_phrases  # noqa: E402
from meshflow.io.animation import AnimationSampler  # noqa: E402
from meshflow.models.text import build_text_encoder  # noqa: E402
from meshflow.models.text.vocabulary import PromptVocabulary  # noqa: E402
from meshflow.train.data import held_out_files  # noqa: E402


def clip_phrases(folder, val_fraction: float) -> list:
    """The phrases of every clip of the ``.glb`` files under ``folder`` the split trains on, sorted."""
    held = set(held_out_files(folder, val_fraction))
    phrases = set()
    for path in sorted(Path(folder).rglob("*.glb")):
        if path not in held:
            phrases.update(phrase_for(path.name, clip.name) for clip in AnimationSampler(path).clips)
    return sorted(phrases)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="*", help="folders of animated .glb files the model was trained on")
    ap.add_argument("-o", "--output", required=True, help="the model directory")
    ap.add_argument("--val-fraction", type=float, default=0.05)
    ap.add_argument("--encoder", default="minilm", help="the model's text encoder, for the stored phrase features")
    args = ap.parse_args(argv)
    procedural = motion_phrases()
    real = [p for folder in args.folders for p in clip_phrases(folder, args.val_fraction)]
    vocabulary = PromptVocabulary(procedural + real)
    path = vocabulary.save(args.output, build_text_encoder(args.encoder))
    print(f"wrote {len(vocabulary)} phrases ({len(procedural)} procedural, {len(set(real))} from clips) to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
