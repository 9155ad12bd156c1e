"""The original AnimateAnyMesh beside meshflow: same random weights, paper sizes, side by side.

    python scripts/bench_vs_original.py --original /path/to/AnimateAnyMesh          # CPU, 2k ... 50k
    python scripts/bench_vs_original.py --original PATH --sizes 2000 5000 --threads 1
    python scripts/bench_vs_original.py --original PATH --device cuda --dtype bfloat16
    python scripts/bench_vs_original.py --no-original --sizes 50000 200000 --tokens n8 --only vae
    python scripts/bench_vs_original.py --dry-run                                  # the plan, nothing run

PATH is a checkout of https://github.com/JarrentWu1031/AnimateAnyMesh that the user provides; nothing of
it is copied into meshflow. The models are the paper's (DyMeshVAE dim 256, depth 8 + 8, latent 32,
8 x 64 decoder heads, 16 frames; MMDiT width 512, 12 layers, 8 heads, CLIP-L text width 768), built
once in meshflow with random weights (the zero-initialised output layers get small random weights,
like a trained model) and loaded into the original's classes through meshflow's key maps. K tokens:
``max(512, N // 8)`` (the original's inference default) unless ``--tokens``.

Every (implementation, N) runs in a fresh process, so its peak memory is its own (peak RSS on CPU,
``torch.cuda.max_memory_allocated`` on CUDA). Timed, with no gradients:
- ``vae``: VAE round trip from the mesh: graph (meshflow: edge_index; original: its dense N x N
  adjacency, ``utils.mesh_utils.get_adjacency_matrix``), encode with FPS, decode;
- ``step``: one midpoint sampler step (two CFG evaluations of the MMDiT, each a batch of 2);
- ``sample``: the full 64-grid-point CFG sample (63 midpoint steps); above ``--full-sample-max``
  vertices it is estimated as 63 x step (marked "~").
Before timing, ``--check`` (default on) runs both at the smallest size with the same token vertices and
noise and prints max |meshflow - original| of the shape latents, the decoded trajectories, one velocity
and a short sample.

Stubs, installed only in the benchmark's own processes (the original imports packages meshflow does not
need): ``einops.rearrange`` (the two patterns the original uses), ``pytorch3d.ops.sample_farthest_points``
(torch_cluster's FPS, the same greedy algorithm), ``torchdiffeq.odeint`` (fixed-grid midpoint, the rule
the original requests) and ``transformers.CLIPTextModel``/``CLIPTokenizer`` (the text encoder is not
timed: both sides get the same fixed (77, 768) hidden states).

The meshflow side also reports, per stage, the achieved FLOP rate as a share of this machine's measured
matmul rate (square fp32 matmul, and bf16 where it runs): neighbour attention, FPS, encoder
cross-attention, decoder self-attention, vertex-query attention, MMDiT step. FLOPs are the algorithmic
count of each stage (2 per multiply-add of its matrix products and attention scores); ``--meshflow
PATH`` benchmarks another meshflow checkout (e.g. the previous commit) for before/after figures.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import resource
import subprocess
import sys
import time
import types
from dataclasses import asdict
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent  # meshflow is imported inside the functions: after --meshflow chose the checkout
PAPER_TABLE = {5000: 3.95, 10000: 5.99, 20000: 10.68, 50000: 21.86}  # the paper's seconds (its GPU, end to end)
DEFAULT_SIZES = [2000, 5000, 10000, 20000, 50000]
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter  # set from --clock in every process
STAGES = ["neighbour attention", "FPS", "encoder cross-attention", "decoder self-attention",
          "vertex-query attention", "MMDiT step"]


# ------------------------------------------------------------------ stubs ---
def stub_modules(hidden: torch.Tensor) -> dict:
    """The modules the original imports but the benchmark does not need, as minimal stand-ins
    ({name: module}); the text encoder returns ``hidden`` (1, S, D) for every prompt."""
    def rearrange(t, pattern, h=None):
        if pattern == "b n (h d) -> b h n d":
            return t.view(t.shape[0], t.shape[1], h, -1).transpose(1, 2)
        if pattern == "b h n d -> b n (h d)":
            return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], -1)
        raise NotImplementedError(pattern)

    def sample_farthest_points(points, lengths=None, K=512):
        import torch_cluster

        idx = []
        for b in range(points.shape[0]):
            n = int(lengths[b]) if lengths is not None else points.shape[1]
            got = torch_cluster.fps(points[b, :n].float(), ratio=min(1.0, (K + 0.5) / n), random_start=False)[:K]
            idx.append(got)
        idx = torch.stack(idx)
        return torch.gather(points, 1, idx[..., None].expand(-1, -1, points.shape[-1])), idx

    def odeint(func, y0, t, atol=None, rtol=None, method="midpoint"):
        assert method == "midpoint", method
        ys = [y0]
        for t0, t1 in zip(t[:-1], t[1:]):
            half = 0.5 * (t1 - t0)
            y_mid = ys[-1] + func(t0, ys[-1]) * half
            ys.append(ys[-1] + (t1 - t0) * func(t0 + half, y_mid))
        return torch.stack(ys)

    class CLIPTextModel(torch.nn.Module):
        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            return cls()

        @property
        def device(self):
            return hidden.device

        def forward(self, input_ids):
            return (hidden.expand(input_ids.shape[0], -1, -1),)

    class CLIPTokenizer:
        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            return cls()

        def __call__(self, texts, **kwargs):
            return types.SimpleNamespace(input_ids=torch.zeros(len(texts), hidden.shape[1], dtype=torch.long))

    mods = {"einops": {"rearrange": rearrange}, "pytorch3d": {}, "pytorch3d.ops": {
        "sample_farthest_points": sample_farthest_points}, "torchdiffeq": {"odeint": odeint},
        "transformers": {"CLIPTextModel": CLIPTextModel, "CLIPTokenizer": CLIPTokenizer}}
    out = {}
    for name, attrs in mods.items():
        out[name] = types.ModuleType(name)
        out[name].__dict__.update(attrs)
    out["pytorch3d"].ops = out["pytorch3d.ops"]
    return out


def install_stubs(hidden: torch.Tensor) -> None:
    """:func:`stub_modules` into ``sys.modules`` (this process only)."""
    sys.modules.update(stub_modules(hidden))
    if not hidden.is_cuda:
        # the original wraps every SDPA call in torch.backends.cuda.sdp_kernel(enable_math=False); current torch
        # applies that to the CPU too, where no fused kernel takes its 256-wide queries with 512-wide values
        # ("No available kernel"): on the CPU the context is a no-op, as it was in the torch it was written for
        torch.backends.cuda.sdp_kernel = lambda **kwargs: contextlib.nullcontext()


# ----------------------------------------------------------------- models ---
def build_models(device, seed: int = 0):
    """Paper-size meshflow DyMeshVAE and MMDiT with random weights (no zero outputs), eval mode."""
    from meshflow.models.dymesh_vae import DyMeshVAE, DyMeshVAEConfig
    from meshflow.models.mmdit import MMDiT, MMDiTConfig

    torch.manual_seed(seed)
    vae = DyMeshVAE(DyMeshVAEConfig(max_tokens=1 << 30))  # no cap on K: the original has none
    mmdit = MMDiT(MMDiTConfig(input_channels=2 * vae.latent_dim, output_channels=2 * vae.latent_dim))
    with torch.no_grad():  # the zero-initialised layers get weights, like a trained model
        zeroed = [layer.lin_out for layer in vae.neighbor_layers] + [vae.vertex_attn.lin_out, mmdit.output_proj]
        zeroed += [b.ada_x for b in mmdit.blocks] + [b.ada_text for b in mmdit.blocks]
        for lin in zeroed:
            lin.weight.normal_(0, 0.02)
            lin.bias.normal_(0, 0.02)
    return vae.to(device).eval(), mmdit.to(device).eval()


def build_original(original: Path, vae, mmdit, hidden, device):
    """The original's DyMeshVAE and DyMeshMMDiT holding the same weights as meshflow's."""
    from meshflow.models.dymesh_vae import meshflow_to_original_state_dict
    from meshflow.models.mmdit import to_original_state_dict

    install_stubs(hidden)
    sys.path.insert(0, str(original))
    from networks.dymeshvae import DyMeshVAE as OriginalVAE
    from networks.transformer import DyMeshMMDiT

    cfg = {k: v for k, v in asdict(vae.config).items() if k in (
        "enc_depth", "dec_depth", "dim", "output_dim", "latent_dim", "heads", "dim_head", "T", "num_traj", "n_layers")}
    ovae = OriginalVAE(**cfg).to(device)
    ovae.load_state_dict(meshflow_to_original_state_dict(vae.state_dict()), strict=True)
    m = mmdit.config
    orf = DyMeshMMDiT(device=device, dtype=torch.float32, input_channels=m.input_channels,
                      output_channels=m.output_channels, width=m.width, layers=m.layers, heads=m.heads)
    orf.load_state_dict(to_original_state_dict(mmdit.state_dict()), strict=True)
    return ovae.eval(), orf.eval()


def mesh(n: int, T: int, device):
    """A twisting torus with exactly n vertices (scripts/bench_vae.py): pos (N, 3), traj (N, T, 3), face (3, F)."""
    sys.path.insert(0, str(HERE))
    from bench_vae import animated_mesh

    pos, traj, face = animated_mesh("torus", n, T)
    return pos.to(device), traj.to(device), face.to(device)


def num_tokens(n: int, tokens: str) -> int:
    """K: 'n8' the original's max(512, N // 8); 'capped' meshflow's default (at most max_tokens); or a number."""
    from meshflow.models.dymesh_vae import DyMeshVAEConfig

    if tokens == "n8":
        return max(512, n // 8)
    if tokens == "capped":
        return min(DyMeshVAEConfig.max_tokens, max(512, n // 8))
    return int(tokens)


# ------------------------------------------------------------ the callers ---
class Meshflow:
    def __init__(self, vae, mmdit, hidden):
        self.vae, self.mmdit, self.hidden = vae, mmdit, hidden

    def vae_round_trip(self, pos, traj, face, K):
        from torch_geometric.data import Data
        from meshflow.data.graph import edge_index_from_faces

        data = Data(pos=pos, traj=traj, edge_index=edge_index_from_faces(face, pos.size(0)))
        return self.vae(data, num_tokens=K).recon  # (N, T, 3)

    def sample(self, f0, steps, noise=None):
        from meshflow.flow.rectified import sample

        L = f0.shape[-1]
        return sample(self.mmdit, f0, self.hidden, steps=steps, guidance=3.0, noise=noise, channels=2 * L)


class Original:
    def __init__(self, vae, rf, original: Path):
        from utils.mesh_utils import get_adjacency_matrix  # from the checkout (torch only)
        from diffusion.rf_diffusion import rf_sample

        self.vae, self.rf, self.adjacency, self.rf_sample = vae, rf, get_adjacency_matrix, rf_sample

    def inputs(self, pos, traj, face):
        pc = (pos[None] + traj.permute(1, 0, 2))[None]  # (1, T, N, 3)
        valid = torch.ones(1, pos.size(0), dtype=torch.bool, device=pos.device)
        adj = self.adjacency(pc[:, 0], face.T[None], valid.sum(-1))
        return pc, valid, adj

    def vae_round_trip(self, pos, traj, face, K):
        pc, valid, adj = self.inputs(pos, traj, face)
        return self.vae(pc, pc[:, 0], valid_mask=valid, adj_matrix=adj, num_traj=K)["recon_pc"]

    def sample(self, f0, steps, noise=None):
        if noise is not None:  # rf_sample draws torch.randn(shape) itself: replay the same draw
            torch.manual_seed(1234)
        shape = (1, f0.shape[1], 2 * f0.shape[-1])
        return self.rf_sample(self.rf, shape, steps=steps, model_kwargs={"texts": ["a prompt"]},
                              device=f0.device, guidance_scale=3.0, f0=f0)


def agreement(mf: Meshflow, og: Original, n: int, device) -> dict:
    """max |meshflow - original| with the same token vertices, latents and noise."""
    vae = mf.vae
    pos, traj, face = mesh(n, vae.T, device)
    K = num_tokens(n, "n8")
    pc, valid, adj = og.inputs(pos, traj, face)
    og.vae.num_traj = K
    _, x, idx, e0 = og.vae.encode(pc, valid_mask=valid, adj_matrix=adj)  # idx: its FPS (first pick random)
    from torch_geometric.data import Data
    from meshflow.data.graph import edge_index_from_faces

    data = Data(pos=pos, traj=traj, edge_index=edge_index_from_faces(face, n))
    latents, _ = vae.encode(data, token_index=idx, sample_posterior=False)
    L = vae.latent_dim
    out = {"shape_latents": float((latents[0, :, :L] - x[0, :, :L]).abs().max())}
    recon_o = og.vae.decode(x, pc[:, 0], e0)[0].permute(1, 0, 2)  # (N, T, 3)
    out["recon"] = float((vae.decode(x, data) - recon_o).abs().max())
    f0 = x[..., :L]
    torch.manual_seed(1234)
    noise = torch.randn(1, K, 2 * L, device=device)
    out["sample_4_steps"] = float((mf.sample(f0, 4, noise=noise) - og.sample(f0, 4, noise=noise)).abs().max())
    return out


# ------------------------------------------------------------------ flops ---
def stage_flops(n: int, E: int, K: int, vae, mmdit, S: int = 77) -> dict:
    """Algorithmic FLOPs per stage (2 per multiply-add)."""
    c = vae.config
    C, HD, W, layers = c.dim, c.heads * c.dim_head, mmdit.config.width, mmdit.config.layers
    tokens = K + S
    per_eval = layers * (2 * tokens * W * 3 * W + 2 * tokens * W * W + 4 * tokens * tokens * W
                         + 16 * tokens * W * W) * 2  # CFG batch of 2
    return {
        "neighbour attention": c.n_layers * (4 * n * C * C + 4 * E * C),
        "FPS": 2 * n * C * K,
        "encoder cross-attention": c.enc_depth * (2 * K * n * 3 * C + 8 * K * C * C),
        "decoder self-attention": c.dec_depth * (2 * K * K * 3 * HD + 12 * K * C * HD),
        "vertex-query attention": 4 * n * C * 2 * C + 2 * n * K * 4 * C + 2 * n * 2 * C * 3 * c.T,
        "MMDiT step": 2 * per_eval,  # one midpoint step: two evaluations
    }


def matmul_rate(device, dtype, size: int = 2048, seconds: float = 1.0) -> float:
    """Sustained FLOP/s of a square matmul (best of repeated runs over about `seconds`)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    best, start = math.inf, time.perf_counter()
    while time.perf_counter() - start < seconds or best == math.inf:
        t = clock()
        a @ b
        _sync(device)
        best = min(best, clock() - t)
    return 2 * size ** 3 / best


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    _sync(device)
    t = clock()
    out = fn()
    _sync(device)
    return clock() - t, out


def stage_times(mf: Meshflow, pos, traj, face, K, device) -> dict:
    from torch_geometric.data import Data
    from meshflow.data.graph import edge_index_from_faces

    vae, n = mf.vae, pos.size(0)
    edge_index = edge_index_from_faces(face, n)
    data = Data(pos=pos, traj=traj, edge_index=edge_index)
    ptr = torch.tensor([0, n], device=device)
    e = vae.point_embed(pos)
    out = {}
    out["neighbour attention"], _ = timed(lambda: [layer(e, edge_index) for layer in vae.neighbor_layers], device)
    e0 = vae.embed_vertices(data)
    eT = vae.traj_embed(traj.reshape(n, -1))
    out["FPS"], idx = timed(lambda: vae.tokenize(e0, ptr, K), device)
    z0, zT = e0[idx], eT[idx]

    def encoder():
        return [attn(z0, e0, e0, eT, ptr=ptr) for attn in vae.enc_attn]
    out["encoder cross-attention"], _ = timed(encoder, device)
    h0, hT = torch.randn_like(z0), torch.randn_like(zT)
    out["decoder self-attention"], _ = timed(lambda: [attn(h0, h0, h0, hT) for attn in vae.dec_attn], device)

    def vertex_query():
        folded = vae.vertex_attn.fold(h0, hT)
        return vae.to_offsets(vae.vertex_attn.attend(vae.query_proj(e0), folded, ptr))
    out["vertex-query attention"], _ = timed(vertex_query, device)
    f0 = torch.randn(1, K, vae.latent_dim, device=device)
    out["MMDiT step"], _ = timed(lambda: mf.sample(f0, 2), device)
    return out, int(edge_index.size(1))


# ----------------------------------------------------------------- worker ---
def peak_memory(device) -> int:
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated()
    try:
        from meshflow.resources import peak_rss_bytes  # the meshflow under test (--meshflow PATH may be older)
    except ImportError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return peak_rss_bytes()


def use_checkout(path: Path) -> None:
    """Import meshflow from `path`, ahead of the editable install's import hook."""
    sys.path.insert(0, str(path))
    sys.meta_path[:] = [f for f in sys.meta_path if not str(getattr(f, "__module__", "")).startswith("__editable__")]


def worker(args) -> dict:
    use_checkout(args.meshflow)
    import meshflow

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    cast = (torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext())
    vae, mmdit = build_models(device)
    hidden = torch.randn(1, 77, mmdit.config.text_dim, generator=torch.Generator().manual_seed(1)).to(device)
    mf = Meshflow(vae, mmdit, hidden)
    impl = mf
    if args.impl == "original" or args.agree:
        og = Original(*build_original(Path(args.original), vae, mmdit, hidden, device), Path(args.original))
        impl = og if args.impl == "original" else mf
    result = {"impl": args.impl, "n": args.n, "device": str(device), "dtype": args.dtype,
              "threads": torch.get_num_threads(), "meshflow": str(Path(meshflow.__file__).parent)}
    with torch.no_grad(), cast:
        if args.agree:
            result["agreement"] = agreement(mf, og, args.n, device)
            return result
        K = num_tokens(args.n, args.tokens)
        result["K"] = K
        small = mesh(600, vae.T, device)  # warm-up (allocator, kernels)
        try:
            impl.vae_round_trip(*small, 512)
        except RuntimeError as err:
            if impl is mf or "No available kernel" not in str(err):
                raise
            # this torch has no fused CUDA kernel for the original's enable_math=False calls: let SDPA choose
            torch.backends.cuda.sdp_kernel = lambda **kwargs: contextlib.nullcontext()
            result["original_sdpa"] = "math allowed (no fused kernel in this torch)"
            impl.vae_round_trip(*small, 512)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        pos, traj, face = mesh(args.n, vae.T, device)
        if "vae" in args.only:
            result["vae"], _ = timed(lambda: impl.vae_round_trip(pos, traj, face, K), device)
        f0 = torch.randn(1, K, vae.latent_dim, device=device)
        if "step" in args.only or "sample" in args.only:
            result["step"], _ = timed(lambda: impl.sample(f0, 2), device)
        if "sample" in args.only:
            if args.n <= args.full_sample_max:
                result["sample"], _ = timed(lambda: impl.sample(f0, 64), device)
            else:
                result["sample_est"] = 63 * result["step"]
        result["peak"] = peak_memory(device)
        if args.impl == "meshflow" and args.stages:
            times, E = stage_times(mf, pos, traj, face, K, device)
            flops = stage_flops(args.n, E, K, vae, mmdit)
            result["stages"] = {s: {"seconds": times[s], "flops": flops[s]} for s in STAGES}
    return result


def spawn(args, impl: str, n: int, check: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--impl", impl, "--n", str(n), "--device", args.device,
           "--dtype", args.dtype, "--tokens", args.tokens, "--threads", str(args.threads),
           "--full-sample-max", str(args.full_sample_max), "--clock", args.clock, "--only", *args.only]
    if args.original:
        cmd += ["--original", str(args.original)]
    if check:
        cmd.append("--agree")
    if not args.stages:
        cmd.append("--no-stages")
    cmd += ["--meshflow", str(args.meshflow)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"impl": impl, "n": n, "error": f"failed: {tail[:80]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------- main ---
def gb(b) -> str:
    return f"{b / 2 ** 30:.2f} GB"


def ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def seconds(r: dict, key: str) -> str:
    if "error" in r:
        return r["error"]
    if key == "sample" and "sample_est" in r:
        return f"~{r['sample_est']:.1f} s"
    return f"{r[key]:.2f} s" if key in r else "-"


def value(r: dict, key: str):
    return r.get(key, r.get("sample_est") if key == "sample" else None) if "error" not in r else None


def plan(args) -> list:
    impls = ["meshflow"] + ([] if args.no_original else ["original"])
    return [(impl, n) for n in args.sizes for impl in impls]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--original", type=Path, help="a checkout of the original AnimateAnyMesh repository")
    p.add_argument("--no-original", action="store_true", help="meshflow only (no --original needed)")
    p.add_argument("--meshflow", type=Path, default=HERE.parent, help="the meshflow checkout to benchmark")
    p.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                   help="bfloat16 runs both models under torch.autocast")
    p.add_argument("--tokens", default="n8",
                   help="K: 'n8' for max(512, N // 8), 'capped' for meshflow's default (at most 8,192), or a number")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads per process (0: torch's default)")
    p.add_argument("--clock", choices=list(CLOCKS), default="wall",
                   help="'cpu': process CPU time (a shared machine; compare like with like at --threads 1)")
    p.add_argument("--only", nargs="+", choices=["vae", "step", "sample"], default=["vae", "step", "sample"])
    p.add_argument("--full-sample-max", type=int, default=1 << 30,
                   help="above this N the 64-step sample is estimated as 63 x one step")
    p.add_argument("--no-stages", dest="stages", action="store_false", help="skip the per-stage FLOP shares")
    p.add_argument("--no-check", dest="check", action="store_false", help="skip the agreement check")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per worker process")
    p.add_argument("--json", type=Path, help="also write every result here")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the table header, run nothing")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--agree", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--impl", default="meshflow", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=5000, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    if not args.no_original and args.original is None:
        p.error("--original PATH is required (a checkout of the original repository), or pass --no-original")
    if args.original is not None and not (args.original / "networks" / "dymeshvae.py").is_file():
        p.error(f"--original {args.original}: not a checkout of AnimateAnyMesh (no networks/dymeshvae.py)")

    cuda = args.device.startswith("cuda")
    print(f"# original vs meshflow, paper sizes, K = {'max(512, N // 8)' if args.tokens == 'n8' else args.tokens}, "
          f"device={args.device}, dtype={args.dtype}, threads={args.threads or torch.get_num_threads()}, "
          f"clock={args.clock}, "
          f"meshflow at {args.meshflow}")
    header = ["N", "K"]
    for key in args.only:
        header += [f"{key} original", f"{key} meshflow", "speed-up"]
    header += ["peak original", "peak meshflow"] + (["paper (GPU)"] if cuda else [])
    runs = plan(args)
    if args.dry_run:
        print("# plan: " + ", ".join(f"{impl} N={n}" for impl, n in runs) + " (one fresh process each)")
        print("| " + " | ".join(header) + " |")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    rates = {"float32": matmul_rate(args.device, torch.float32)}
    with contextlib.suppress(RuntimeError):
        rates["bfloat16"] = matmul_rate(args.device, torch.bfloat16)
    print("# sustained matmul rate: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in rates.items()))
    results = {"rates": rates, "runs": []}
    if args.check and not args.no_original:
        check = spawn(args, "meshflow", min(args.sizes), check=True)
        print(f"# agreement at N={min(args.sizes)} (same tokens, latents, noise): max |meshflow - original| = "
              f"{check.get('agreement', check.get('error'))}")
        results["agreement"] = check
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    by = {}
    for n in args.sizes:
        for impl in ("meshflow", "original"):
            if (impl, n) in runs:
                by[impl, n] = spawn(args, impl, n)
                results["runs"].append(by[impl, n])
        mf, og = by[("meshflow", n)], by.get(("original", n), {"error": "-"})
        row = [str(n), str(mf.get("K", "-"))]
        for key in args.only:
            row += [seconds(og, key), seconds(mf, key), ratio(value(og, key), value(mf, key))]
        row += [gb(og["peak"]) if "peak" in og else og.get("error", "-"), gb(mf["peak"]) if "peak" in mf else "-"]
        if cuda:
            row.append(f"{PAPER_TABLE[n]:.2f} s" if n in PAPER_TABLE else "-")
        print("| " + " | ".join(row) + " |", flush=True)
    if args.stages:
        print("\n# meshflow per stage: achieved FLOP rate as a share of the fp32 matmul rate")
        print("| N | " + " | ".join(STAGES) + " |")
        print("|" + "---:|" * (len(STAGES) + 1))
        for n in args.sizes:
            st = by[("meshflow", n)].get("stages")
            if st:
                cells = [f"{v['seconds']:.2f} s, {v['flops'] / v['seconds'] / rates['float32']:.0%}"
                         for v in (st[s] for s in STAGES)]
                print(f"| {n} | " + " | ".join(cells) + " |")
    peaks = {n: by[("meshflow", n)].get("peak") for n in args.sizes}
    if peaks.get(50000) and peaks.get(200000):
        print(f"\n# memory: peak(200k) / peak(50k) = {peaks[200000] / peaks[50000]:.2f} (target <= 4.5)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
