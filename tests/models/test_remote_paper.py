"""scripts/bench_paper_size.py: its original-layout snapshot builder at tiny sizes (fast), and the paper-size
model converted and animated on CPU (slow)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from meshflow.io import load_animation, read_mesh
from meshflow.models.dymesh_vae import DyMeshVAEConfig
from meshflow.models.remote import resolve_model
from tests.conftest import load_script
from tests.models import test_remote

pytest.importorskip("transformers")
ROOT = Path(__file__).resolve().parents[2]
bench = load_script("bench_paper_size")
hub = test_remote.hub  # the fixture: a fake Hugging Face cache, offline


def test_paper_sizes_are_the_papers():
    vae = bench.PAPER_VAE
    assert (vae.dim, vae.enc_depth, vae.dec_depth, vae.latent_dim, vae.num_traj, vae.T) == (256, 8, 8, 32, 512, 16)
    assert (bench.PAPER_RF["width"], bench.PAPER_RF["layers"], bench.PAPER_RF["heads"]) == (512, 12, 8)
    assert bench.PAPER_RF["input_channels"] == 64
    clip = bench.CLIP_L14
    assert (clip["hidden_size"], clip["num_hidden_layers"], clip["num_attention_heads"]) == (768, 12, 12)


def test_builder_at_tiny_sizes_converts_and_animates(hub, tmp_path):
    vae = DyMeshVAEConfig(enc_depth=1, dec_depth=1, dim=32, output_dim=48, latent_dim=8, heads=2, dim_head=16,
                          T=16, num_traj=32)
    rf = {**bench.PAPER_RF, "input_channels": 16, "output_channels": 16, "width": 32, "layers": 1, "heads": 2}
    clip = {**bench.CLIP_L14, "hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 1,
            "num_attention_heads": 1}
    bench.write_hub_snapshot(hub, bench.REPO, bench.COMMIT, bench.original_snapshot(vae, rf, clip))
    mesh = bench.torus(300, tmp_path / "torus.obj")
    torus = read_mesh(mesh)
    assert abs(len(torus.vertices) - 300) <= 20 and len(torus.faces) == 2 * len(torus.vertices)
    out = tmp_path / "out.npz"
    stage = bench.run_stage(["animate", str(mesh), "--prompt", "spin", "-o", str(out), "--model", bench.REPO,
                             "--steps", "2", "--seed", "0", "-q"])
    assert stage["rc"] == 0 and stage["seconds"] > 0 and stage["peak_rss_mb"] > 0
    assert resolve_model(bench.REPO).cached
    anim = load_animation(out)
    assert anim.vertices.shape == (16, len(torus.vertices), 3) and np.abs(anim.vertices - anim.vertices[:1]).max() > 0
    config = json.loads((resolve_model(bench.REPO).path / "config.json").read_text())
    assert config["components"]["text_encoder"]["width"] == 64


@pytest.mark.slow
def test_paper_size_snapshot_converts_and_animates_5k_on_cpu(tmp_path):
    """About a GB of random weights; minutes on a small CPU (scripts/bench_paper_size.py prints the figures)."""
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_paper_size.py"), "--vertices", "5000",
                          "--steps", "2", "--work", str(tmp_path)], capture_output=True, text=True, timeout=3600)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = {line.split()[0]: line for line in run.stdout.splitlines() if line.strip()}
    assert "peak RSS" in lines["convert"] and "peak RSS" in lines["animate"], run.stdout
    anim = load_animation(tmp_path / "out.npz")
    assert anim.vertices.shape[0] == 16 and anim.vertices.shape[1] >= 4900
    assert anim.tokens == max(512, anim.vertices.shape[1] // 8)  # K = max(512, N // 8)
