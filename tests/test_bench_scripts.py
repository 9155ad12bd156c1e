"""scripts/bench_vs_original.py and scripts/gpu_check.sh without a GPU: plans, errors, the stand-ins."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from meshflow.flow.rectified import sample
from meshflow.nn import fps_reference
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_vs_original")


def run_gpu_check(*args, out):
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable)
    return subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)


def test_gpu_check_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = run_gpu_check("--dry-run", out=out)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    plan = [line for line in lines if line.startswith("# plan: ") and "(<= " in line]
    assert [line.split()[2] for line in plan[:5]] == ["gpu-tests", "bench-fp32", "bench-bf16", "large-fp32",
                                                     "large-bf16"]
    assert any("-m gpu" in line for line in plan)
    assert any("--dtype bfloat16" in line and "--sizes 5000 10000 20000 50000" in line for line in plan)
    assert any("--sizes 200000 1000000" in line for line in plan)
    budgets = [int(line.split("(<= ")[1].split(" s)")[0]) for line in plan]
    assert sum(budgets) <= 540  # nine minutes
    assert "5k 3.95 s | 10k 5.99 s | 20k 10.68 s | 50k 21.86 s" in proc.stdout  # the paper's table
    assert any(line.startswith("| N | K | vae original | vae meshflow | speed-up") and "paper (GPU)" in line
               for line in lines)
    assert not out.exists()


def test_gpu_check_rejects_a_path_that_is_not_the_original(tmp_path):
    proc = run_gpu_check("--dry-run", "--original", str(tmp_path), out=tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"gpu_check.sh: --original {tmp_path}: not a checkout of AnimateAnyMesh (no networks/dymeshvae.py)"]
    assert not (tmp_path / "out").exists()
    proc = run_gpu_check("--fast", out=tmp_path / "out")
    assert proc.returncode == 2 and "unknown option '--fast'" in proc.stderr


def test_bench_dry_run(bench, capsys):
    assert bench.main(["--dry-run", "--no-original", "--sizes", "2000", "5000"]) == 0
    out = capsys.readouterr().out
    assert "# plan: meshflow N=2000, meshflow N=5000 (one fresh process each)" in out
    assert "| N | K | vae original | vae meshflow | speed-up | step original" in out
    assert "paper (GPU)" not in out  # CPU


def test_bench_needs_the_original(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        bench.main(["--dry-run"])
    assert err.value.code == 2
    assert "--original PATH is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--dry-run", "--original", str(tmp_path)])
    assert f"--original {tmp_path}: not a checkout of AnimateAnyMesh" in capsys.readouterr().err


def test_token_policies(bench):
    assert [bench.num_tokens(n, "n8") for n in (2000, 5000, 200_000)] == [512, 625, 25_000]
    assert [bench.num_tokens(n, "capped") for n in (2000, 200_000)] == [512, 8192]
    assert bench.num_tokens(10_000, "300") == 300


def test_stub_odeint_integrates_like_meshflows_midpoint_sampler(bench):
    odeint = bench.stub_modules(torch.zeros(1, 3, 4))["torchdiffeq"].odeint
    L = 2
    f0, noise = torch.randn(1, 5, L, dtype=torch.float64), torch.randn(1, 5, 2 * L, dtype=torch.float64)

    def velocity(x, t):  # depends on t and on the shape channels, like the MMDiT
        return torch.sin(3 * t) * x.roll(1, dims=-1) - 0.5 * x

    ours = sample(lambda x, t, *rest: velocity(x, t.view(-1, 1, 1)), f0, torch.zeros(1, 3, 4), steps=9,
                  guidance=None, noise=noise)
    stub = odeint(lambda t, x: velocity(torch.cat([f0, x[..., L:]], -1), t), noise,
                  torch.linspace(0, 1, 9, dtype=torch.float64), method="midpoint")[-1]
    torch.testing.assert_close(ours[..., L:], stub[..., L:], rtol=1e-12, atol=1e-12)


def test_stub_farthest_points_is_the_greedy_fps(bench):
    fps = bench.stub_modules(torch.zeros(1, 3, 4))["pytorch3d.ops"].sample_farthest_points
    points = torch.randn(2, 200, 6)
    picked, idx = fps(points, lengths=torch.tensor([200, 150]), K=17)
    assert torch.equal(idx[0], fps_reference(points[0], 17))
    assert torch.equal(idx[1], fps_reference(points[1, :150], 17))
    assert torch.equal(picked[1], points[1, idx[1]])


def test_stage_flops_grow_as_the_stages_do(bench):
    from meshflow.models.dymesh_vae import DyMeshVAE, DyMeshVAEConfig
    from meshflow.models.mmdit import MMDiT, MMDiTConfig

    vae, mmdit = DyMeshVAE(DyMeshVAEConfig(enc_depth=1, dec_depth=1, dim=8, heads=2, dim_head=4)), \
        MMDiT(MMDiTConfig(width=16, layers=1, heads=2))
    a = bench.stage_flops(1000, 6000, 100, vae, mmdit)
    b = bench.stage_flops(2000, 12000, 100, vae, mmdit)
    assert b["neighbour attention"] == 2 * a["neighbour attention"]  # linear in N and E
    assert b["FPS"] == 2 * a["FPS"]
    assert b["decoder self-attention"] == a["decoder self-attention"]  # tokens only
    c = bench.stage_flops(1000, 6000, 200, vae, mmdit)
    assert 4 * a["decoder self-attention"] > c["decoder self-attention"] > 2 * a["decoder self-attention"]
    assert a["decoder self-attention"] == 2 * 100 * 100 * 3 * 8 + 12 * 100 * 8 * 8  # one block, H D = 8
