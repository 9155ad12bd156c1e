import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from meshflow.data.graph import edge_index_from_faces, mesh_graph
from meshflow.data.shapes import grid, icosphere
from meshflow.errors import CheckpointError
from meshflow.models import DyMeshVAE, DyMeshVAEConfig
from meshflow.models.dymesh_vae import (config_from_original, load_original_vae, load_vae,
                                        meshflow_to_original_state_dict, original_to_meshflow_state_dict,
                                        save_vae)

GOLDEN = ("golden", "animateanymesh")
TINY = DyMeshVAEConfig(enc_depth=1, dec_depth=1, dim=16, output_dim=12, latent_dim=4, heads=2, dim_head=8,
                       T=4, num_traj=8)


# ---------------------------------------------------------------- helpers ---
def golden_model(shared, dtype=torch.float64, **overrides):
    config = json.loads(shared(*GOLDEN, "training_config.json").read_text())["vae_config"]
    config.update(overrides)
    state = torch.load(shared(*GOLDEN, "official_vae_state_dict.pt"), map_location="cpu", weights_only=True)
    return load_original_vae(state, config, dtype=dtype)


def golden_case(shared, name):
    case = dict(np.load(shared(*GOLDEN, f"vae_case_{name}.npz")))
    V = torch.from_numpy(case["vertices"])  # (T, N, 3)
    face = torch.from_numpy(case["faces"]).T.contiguous()
    data = Data(pos=V[0], face=face, edge_index=edge_index_from_faces(face, V.size(1)),
                traj=(V - V[:1]).permute(1, 0, 2).contiguous())
    return data, {k: torch.from_numpy(v) for k, v in case.items()}


def assert_golden(actual, expected, dtype):
    actual = actual.to(torch.float64)
    if dtype == torch.float64:
        torch.testing.assert_close(actual, expected, rtol=1e-8, atol=1e-8)
    else:  # 1e-4 relative to the magnitude of the reference
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def tiny_model(seed=0, **overrides) -> DyMeshVAE:
    torch.manual_seed(seed)
    model = DyMeshVAE(DyMeshVAEConfig(**{**asdict(TINY), **overrides})).double()
    with torch.no_grad():  # the zero-initialised projections would hide bugs
        for lin in (model.neighbor_layers[0].lin_out, model.vertex_attn.lin_out):
            lin.weight.normal_(0, 0.3)
            lin.bias.normal_(0, 0.3)
    return model.eval()


def animated(vertices, faces, T=4, seed=0) -> Data:
    g = torch.Generator().manual_seed(seed)
    data = mesh_graph(vertices, faces)
    data.pos = data.pos.double()
    data.traj = torch.randn(data.num_nodes, T, 3, generator=g, dtype=torch.float64) * 0.1
    data.traj[:, 0] = 0
    return data


# ----------------------------------------------------------------- golden ---
CASES = ["icosphere", "grid"]
DTYPES = [torch.float64, torch.float32]
TOKENS = [(32, ""), (48, "_48")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", CASES)
def test_golden_neighbor_residual_and_vertex_embedding(shared, name, dtype):
    model = golden_model(shared, dtype)
    data, ref = golden_case(shared, name)
    with torch.no_grad():
        point = model.point_embed(data.pos.to(dtype))
        assert_golden(model.neighbor_layers[0](point, data.edge_index), ref["neighbor_residual"], dtype)
        assert_golden(model.embed_vertices(data), ref["vertex_embed"], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("K,suffix", TOKENS)
def test_golden_fps_indices(shared, name, dtype, K, suffix):
    model = golden_model(shared, dtype)
    data, ref = golden_case(shared, name)
    with torch.no_grad():
        e0 = model.embed_vertices(data)
    golden = ref["fps_index" + suffix]
    # The original swapped FPS's first pick (always vertex 0) for a random vertex; the rest is plain FPS.
    expected = torch.cat([golden.new_zeros(1), golden[1:]])
    ptr = torch.tensor([0, data.num_nodes])
    for backend in ("fast", "reference", "torch_cluster"):
        if backend == "torch_cluster":
            pytest.importorskip("torch_cluster")
        assert torch.equal(model.tokenize(e0, ptr, K, fps_backend=backend)[0], expected)
    index = model.tokenize(e0, ptr, K, random_first_token=True, generator=torch.Generator().manual_seed(0))[0]
    assert torch.equal(index[1:], expected[1:]) and 0 <= int(index[0]) < data.num_nodes


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("K,suffix", TOKENS)
def test_golden_latents_and_reconstruction(shared, name, dtype, K, suffix):
    model = golden_model(shared, dtype)
    data, ref = golden_case(shared, name)
    with torch.no_grad():
        latents, posterior = model.encode(data, token_index=ref["fps_index" + suffix], sample_posterior=False)
        assert latents.shape == (1, K, 16)
        assert_golden(latents[0], ref["latent_mean" + suffix], dtype)
        if K == 48:  # the recorded log-variance comes from the 48-token run
            assert_golden(posterior.logvar[0], ref["latent_logvar"], dtype)
        else:  # tokens 1..31 are the same vertices in both runs (token 0 was drawn at random)
            assert_golden(posterior.logvar[0, 1:], ref["latent_logvar"][1:K], dtype)
        recon = model.decode(ref["latent_mean" + suffix].to(dtype).unsqueeze(0), data)  # (N, T, 3)
        assert_golden(recon.permute(1, 0, 2), ref["recon" + suffix], dtype)
        out = model(data, token_index=ref["fps_index" + suffix], sample_posterior=False)
        assert_golden(out.recon.permute(1, 0, 2), ref["recon" + suffix], dtype)


@pytest.mark.parametrize("name", CASES)
def test_golden_with_small_chunks(shared, name):
    """Every chunked path (neighbour blocks, online softmax, vertex blocks, row blocks) at once."""
    model = golden_model(shared, chunk_size=7)
    data, ref = golden_case(shared, name)
    with torch.no_grad():
        assert_golden(model.embed_vertices(data), ref["vertex_embed"], torch.float64)
        latents, _ = model.encode(data, token_index=ref["fps_index_48"], sample_posterior=False)
        assert_golden(latents[0], ref["latent_mean_48"], torch.float64)
        recon = model.decode(latents, data)
        assert_golden(recon.permute(1, 0, 2), ref["recon_48"], torch.float64)


def test_golden_state_dict_keys_round_trip(shared):
    state = torch.load(shared(*GOLDEN, "official_vae_state_dict.pt"), map_location="cpu", weights_only=True)
    renamed, unknown = original_to_meshflow_state_dict(state)
    assert unknown == []
    back = meshflow_to_original_state_dict(renamed)
    assert sorted(back) == sorted(state)
    assert all(torch.equal(back[k], state[k]) for k in state)


# ------------------------------------------------------------ behaviour ---
def test_config_and_construction():
    model = DyMeshVAE(TINY)
    assert model.config == TINY
    assert model.num_tokens(60) == 8 and model.num_tokens(800) == 100
    assert DyMeshVAE(DyMeshVAEConfig(max_tokens=600)).num_tokens(10 ** 6) == 600
    with pytest.raises(ValueError, match=r"Expected output_dim = 3 \* T = 12 \(got output_dim=48\)"):
        DyMeshVAEConfig(T=4)


def test_batch_of_two_meshes_equals_each_alone():
    model = tiny_model()
    a, b = animated(*icosphere(1), seed=1), animated(*grid(5, 7), seed=2)
    batch = Batch.from_data_list([a, b])
    with torch.no_grad():
        lat, post = model.encode(batch, num_tokens=10, sample_posterior=False)
        rec = model.decode(lat, batch)
        assert lat.shape == (2, 10, 8) and rec.shape == (batch.num_nodes, 4, 3)
        for i, d in enumerate([a, b]):
            lat_i, post_i = model.encode(d, num_tokens=10, sample_posterior=False)
            torch.testing.assert_close(lat[i], lat_i[0])
            torch.testing.assert_close(post.logvar[i], post_i.logvar[0])
            assert torch.equal(post.token_index[i] - int(batch.ptr[i]), post_i.token_index[0])
            torch.testing.assert_close(rec[batch.ptr[i]:batch.ptr[i + 1]], model.decode(lat_i, d))


def test_permuting_vertices_permutes_outputs():
    model = tiny_model()
    data = animated(*icosphere(1))
    n = data.num_nodes
    perm = torch.randperm(n)  # new vertex a is old vertex perm[a]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    moved = Data(pos=data.pos[perm], edge_index=inv[data.edge_index], traj=data.traj[perm])
    with torch.no_grad():
        lat, post = model.encode(data, num_tokens=9, sample_posterior=False)
        lat_p, _ = model.encode(moved, token_index=inv[post.token_index], sample_posterior=False)
        torch.testing.assert_close(lat_p, lat)
        torch.testing.assert_close(model.decode(lat, moved), model.decode(lat, data)[perm])
        torch.testing.assert_close(model.embed_vertices(moved), model.embed_vertices(data)[perm])
        # FPS from the same start vertex picks the same vertices
        fixed = torch.cat([torch.zeros(1, dtype=torch.long), torch.randperm(n - 1) + 1])
        inv_fixed = torch.empty_like(fixed)
        inv_fixed[fixed] = torch.arange(n)
        moved = Data(pos=data.pos[fixed], edge_index=inv_fixed[data.edge_index], traj=data.traj[fixed])
        lat_f, post_f = model.encode(moved, num_tokens=9, sample_posterior=False)
        assert torch.equal(fixed[post_f.token_index], post.token_index)
        torch.testing.assert_close(lat_f, lat)


def test_default_token_count_and_missing_traj():
    model = tiny_model()
    data = animated(*icosphere(2))  # 162 vertices
    model.train()
    lat, _ = model.encode(data)
    assert lat.shape[1] == 8  # num_traj
    model.eval()
    with torch.no_grad():
        assert model.encode(data)[0].shape[1] == max(8, 162 // 8)
        still = Data(pos=data.pos, edge_index=data.edge_index)
        zero = Data(pos=data.pos, edge_index=data.edge_index, traj=torch.zeros(162, 4, 3, dtype=torch.float64))
        torch.testing.assert_close(model.encode(still, num_tokens=8, sample_posterior=False)[0],
                                   model.encode(zero, num_tokens=8, sample_posterior=False)[0])
        # edges from faces when edge_index is absent
        faces_only = Data(pos=data.pos, face=data.face, traj=data.traj)
        torch.testing.assert_close(model.embed_vertices(faces_only), model.embed_vertices(data))


def test_sampling_and_kl():
    model = tiny_model()
    data = animated(*grid(4, 4))
    with torch.no_grad():
        mean_lat, post = model.encode(data, num_tokens=8, sample_posterior=False)
        g = torch.Generator().manual_seed(3)
        sampled, _ = model.encode(data, num_tokens=8, generator=g)
    torch.testing.assert_close(sampled[..., :4], mean_lat[..., :4])  # shape latents are deterministic
    assert not torch.allclose(sampled[..., 4:], mean_lat[..., 4:])
    expected_kl = 0.5 * (post.mean ** 2 + post.logvar.exp() - 1 - post.logvar).mean(dim=(1, 2))
    torch.testing.assert_close(post.kl(), expected_kl)


def test_loss_and_backward():
    model = tiny_model().train()
    batch = Batch.from_data_list([animated(*icosphere(1)), animated(*grid(3, 5), seed=4)])
    out = model(batch, generator=torch.Generator().manual_seed(0))
    target = batch.pos.unsqueeze(1) + batch.traj
    loss, parts = model.loss(out, batch, beta=1e-3)
    torch.testing.assert_close(parts["recon"], (out.recon - target).norm(dim=-1).mean().detach())
    torch.testing.assert_close(loss, (out.recon - target).norm(dim=-1).mean() + 1e-3 * out.kl.mean())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())  # DistributedDataParallel needs every one
    mse, _ = model.loss(out, batch, beta=0.0, recon_loss="mse")
    torch.testing.assert_close(mse, ((out.recon - target) ** 2).mean())
    with pytest.raises(ValueError, match=r"Expected recon_loss to be 'l2' or 'mse' \(got 'l1'\)"):
        model.loss(out, batch, recon_loss="l1")


def test_input_errors():
    model = tiny_model()
    data = animated(*grid(3, 3))
    with pytest.raises(ValueError, match=r"Expected 'pos' to have shape \(N, 3\) \(got \(9, 2\)\)"):
        model.encode(Data(pos=torch.zeros(9, 2)))
    with pytest.raises(ValueError, match=r"Expected 'traj' to have shape \(N, T, 3\) = \(9, 4, 3\) "
                                         r"\(got \(9, 5, 3\)\)"):
        model.encode(Data(pos=data.pos, edge_index=data.edge_index, traj=torch.zeros(9, 5, 3)))
    with pytest.raises(ValueError, match=r"Expected every row b of 'token_index' to hold vertex rows of mesh b"):
        model.encode(data, token_index=torch.tensor([[0, 9]]))
    with pytest.raises(ValueError, match=r"Expected 'token_index' to have shape \(B, K\) with B = 1"):
        model.encode(data, token_index=torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"Expected a mesh with at least one vertex \(got N = 0\)"):
        model.encode(Data(pos=torch.zeros(0, 3)))
    with pytest.raises(ValueError, match=r"Expected 'batch' to be sorted"):
        model.embed_vertices(Data(pos=torch.zeros(3, 3), batch=torch.tensor([1, 0, 1])))
    with pytest.raises(ValueError, match=r"Expected every mesh to have at least one vertex \(got sizes \[3, 0\]\)"):
        model.embed_vertices(Data(pos=torch.zeros(3, 3), ptr=torch.tensor([0, 3, 3])))
    with pytest.raises(ValueError, match=r"Expected 'latents' to have shape \(B, K, 2L\) with B = 1, 2L = 8 "
                                         r"\(got \(1, 5, 6\)\)"):
        model.decode(torch.zeros(1, 5, 6), data)


# ------------------------------------------------------------ checkpoints ---
def test_load_original_vae_from_file_variants(shared, tmp_path):
    state = torch.load(shared(*GOLDEN, "official_vae_state_dict.pt"), map_location="cpu", weights_only=True)
    config = json.loads(shared(*GOLDEN, "training_config.json").read_text())
    reference = load_original_vae(state, config["vae_config"])
    assert reference.training is False and reference.to_offsets.weight.dtype == torch.float32
    path = tmp_path / "dvae_f.pth"
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    model = load_original_vae(path, config)  # the whole training config works too
    for k, v in reference.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)


def test_load_original_vae_errors(shared):
    state = torch.load(shared(*GOLDEN, "official_vae_state_dict.pt"), map_location="cpu", weights_only=True)
    config = json.loads(shared(*GOLDEN, "training_config.json").read_text())["vae_config"]
    broken = dict(state)
    del broken["to_outputs.bias"]
    broken["extra.weight"] = torch.zeros(1)
    broken["fc_query.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointError) as info:
        load_original_vae(broken, config)
    message = str(info.value)
    assert "missing: to_outputs.bias" in message
    assert "unexpected: extra.weight" in message
    assert "wrong shape: fc_query.weight (3, 3) (expected (96, 48))" in message
    with pytest.raises(CheckpointError, match=r"does not match.*missing: .*enc_blocks\.2\.0\.norm_q\.weight"):
        load_original_vae(state, {**config, "enc_depth": 3})
    with pytest.raises(CheckpointError, match=r"unknown vae_config key\(s\) depth"):
        config_from_original({**config, "depth": 3})
    with pytest.raises(CheckpointError, match=r"Expected vae_config 'norm_type' to be 'qkv' \(got 'q'\)"):
        config_from_original({**config, "norm_type": "q"})
    assert config_from_original({**config, "norm_type": "qkv"}).dim == 48


def test_save_and_load_model_directory(tmp_path):
    model = tiny_model().float()
    save_vae(model, tmp_path / "vae_dir", extras={"note": "tiny"})
    loaded = load_vae(tmp_path / "vae_dir")
    assert loaded.config == model.config and loaded.training is False
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    cfg = json.loads((tmp_path / "vae_dir" / "config.json").read_text())
    assert cfg["components"]["vae"]["max_tokens"] == 8192 and cfg["note"] == "tiny"
    from safetensors.torch import load_file, save_file

    weights = load_file(str(tmp_path / "vae_dir" / "vae.safetensors"))
    path = str(tmp_path / "vae_dir" / "vae.safetensors")
    save_file({k: v for k, v in weights.items() if k != "to_offsets.bias"}, path)
    with pytest.raises(CheckpointError, match=r"weights do not match the config \(missing: to_offsets\.bias; "
                                              r"unexpected: none\)"):
        load_vae(tmp_path / "vae_dir")
    weights["to_offsets.bias"] = torch.zeros(5)
    save_file(weights, path)
    with pytest.raises(CheckpointError, match=r"weights do not match the config \(.*to_offsets\.bias"):
        load_vae(tmp_path / "vae_dir")
    cfg["components"]["vae"]["depth"] = 2
    (tmp_path / "vae_dir" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"unknown DyMeshVAE config key\(s\) depth"):
        load_vae(tmp_path / "vae_dir")
