"""scripts/diagnose_vae.py on a tiny clip folder with a tiny random VAE: the trainers' split,
groups from source names, and tables that agree with a direct evaluation."""
import json

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from meshflow.data.clips import build_clips
from meshflow.data.motions import make_motion
from meshflow.data.shapes import icosphere
from meshflow.eval.vae import evaluate_vae
from meshflow.io import Animation, save_animation
from meshflow.models.dymesh_vae import DyMeshVAE, DyMeshVAEConfig, save_vae
from meshflow.train.config import DataConfig
from meshflow.train.data import open_dataset, source_file, split_by_source
from tests.conftest import load_script

NAMES = ("ball", "rock", "egg", "pod", "gem", "bean", "nut", "pip")
LABELS = ("spin", "breathe", "squash_stretch")


diagnose_vae = load_script("diagnose_vae")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Procedural npz clips named as make_procedural.py names them, and two glTF files ('real')."""
    root = tmp_path_factory.mktemp("diag")
    anims = root / "anims"
    anims.mkdir()
    v, f = icosphere(1)
    for k, name in enumerate(NAMES):
        for label in LABELS:
            m = make_motion(v * np.array([1.0, 1.2 + 0.1 * k, 0.8]), f, label=label, rng=k, frames=8, name=name)
            save_animation(anims / f"{name}__{label}_0.npz", Animation(m.frames, f, prompt=m.caption))
    for k in range(2):
        m = make_motion(v, f, label="hop", rng=k, frames=8)
        save_animation(anims / f"Real{k}.glb", Animation(m.frames, f, prompt="a thing hops", fps=15.0))
    out = root / "clips"
    build_clips([anims], out, frames=8, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = DyMeshVAE(DyMeshVAEConfig(enc_depth=1, dec_depth=1, dim=32, output_dim=24, latent_dim=8, heads=2,
                                      dim_head=16, T=8, num_traj=16, n_layers=1))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    training = {"task": "vae", "config": {"data": {"val_fraction": 0.3, "max_vertices": 20_000}}}
    return save_vae(model, tmp_path_factory.mktemp("diag_vae") / "vae", extras={"training": training})


@pytest.mark.parametrize("source, group", [
    ("Fox__spin_0.npz@0", "spin"), ("toy_0003__squash_stretch_1.npz@16", "squash_stretch"),
    ("Fox.glb#Armature|Walk@16", "real"), ("Horse.gltf#Gallop@0", "real"), ("walk.npz@0", "other"),
    ("Fox__dance_0.npz@0", "other"),
])
def test_clip_group(source, group):
    assert diagnose_vae.clip_group(source) == group
    assert diagnose_vae.clip_kind(group) == {"real": "real", "other": "other"}.get(group, "procedural")


def test_balanced_draw_is_round_robin():
    groups = ["a"] * 10 + ["b"] * 2 + ["c"] * 5
    picked = diagnose_vae.balanced(range(17), groups, 7, seed=0)
    counts = {g: sum(groups[i] == g for i in picked) for g in "abc"}
    assert counts == {"a": 3, "b": 2, "c": 2} and picked == sorted(set(picked))
    assert diagnose_vae.balanced(range(17), groups, 100, seed=1) == list(range(17))


def test_main_tables_and_json(clips, vae_dir, tmp_path, capsys):
    path = tmp_path / "diag.json"
    assert diagnose_vae.main(["--model", str(vae_dir), "--data", str(clips), "--tokens", "8", "16",
                              "--max-clips", "6", "--json", str(path)]) == 0
    text = capsys.readouterr().out
    assert "K = 8, by split" in text and "K = 16, by label" in text and "by kind" in text and "still" in text
    result = json.loads(path.read_text())
    assert result["val_fraction"] == 0.3  # from the model's own training config

    # the trainers' split, whole files held out
    ds, sources = open_dataset(DataConfig(root=str(clips), frames=8, augment=False), augment=False)
    train, held = split_by_source(sources, 0.3, max_val=len(sources))
    assert result["splits"]["train"]["clips"] == len(train) and result["splits"]["heldout"]["clips"] == len(held)
    rows = result["clips"]
    by_split = {s: {r["source"] for r in rows if r["split"] == s} for s in ("train", "heldout")}
    assert by_split["heldout"] <= {sources[i] for i in held} and by_split["train"] <= {sources[i] for i in train}
    assert not {source_file(s) for s in by_split["train"]} & {source_file(s) for s in by_split["heldout"]}
    assert len(by_split["train"]) == 6 and len(by_split["heldout"]) == min(6, len(held))

    # every number beside its baseline, and both agree with a direct evaluation of the same clips
    index = {s: i for i, s in enumerate(sources)}
    for K in (8, 16):
        table = result["tables"][str(K)]
        for split in ("train", "heldout"):
            picked = sorted(index[s] for s in by_split[split])
            direct = evaluate_vae(diagnose_vae.load_vae(vae_dir), Subset(ds, picked), tokens=K).summary()
            cell = table["split"][split]["all"]
            assert cell["clips"] == len(picked)
            assert cell["error"] == pytest.approx(direct["mean"], rel=1e-5)
            assert cell["still"] == pytest.approx(direct["mean_still"], rel=1e-5)
            assert cell["ratio"] == pytest.approx(cell["error"] / cell["still"])
            groups = {diagnose_vae.clip_group(sources[i]) for i in picked}
            assert set(table["label"][split]) == groups
            assert sum(c["clips"] for c in table["kind"][split].values()) == len(picked)
    assert {r["group"] for r in rows} <= set(LABELS) | {"real"}


def test_main_errors(tmp_path, vae_dir, capsys):
    (tmp_path / "plain").mkdir()
    assert diagnose_vae.main(["--model", str(vae_dir), "--data", str(tmp_path / "plain")]) == 2
    assert "plain: not a clip folder" in capsys.readouterr().err
    assert diagnose_vae.main(["--model", str(vae_dir), "--data", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    assert diagnose_vae.main(["--model", str(vae_dir), "--data", str(tmp_path), "--max-clips", "0"]) == 2
    assert "--max-clips: expected at least 1 (got 0)" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))
