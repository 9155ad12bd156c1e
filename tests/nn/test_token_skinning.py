import math

import pytest
import torch

from meshflow.models.dymesh_vae import DyMeshVAE, DyMeshVAEConfig
from meshflow.nn import rotation_6d, TokenSkinning


def reference_blend(layer, query, pos, h0, hT, token_pos, ptr):
    """x_v(t) = sum_k w_vk (R_kt (p_v - s_kt q_k) + s_kt q_k + b_kt), mesh by mesh, written out plainly."""
    R, b, s = layer.transforms(h0, hT)
    keys = layer.lin_k(layer.norm_k(h0))
    rho = layer.log_radius.exp()
    out = []
    for m in range(ptr.numel() - 1):
        lo, hi = int(ptr[m]), int(ptr[m + 1])
        q = layer.lin_q(layer.norm_q(query[lo:hi])) / math.sqrt(layer.head_channels)
        d2 = ((pos[lo:hi, None, :] - token_pos[m][None]) ** 2).sum(-1)
        w = torch.softmax(q @ keys[m].t() - d2 / (2 * rho ** 2), dim=-1)  # (n, K)
        pivot = s[m] * token_pos[m][:, None, :]  # (K, T, 3)
        local = pos[lo:hi, None, None, :] - pivot[None]  # (n, K, T, 3)
        moved = torch.einsum("ktij,nktj->nkti", R[m], local) + pivot[None] + b[m][None]  # (n, K, T, 3)
        out.append((w[:, :, None, None] * moved).sum(1))
    return torch.cat(out)


def randomized(layer, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return layer


def test_rotation_6d_is_a_rotation():
    a = torch.randn(50, 6, dtype=torch.float64)
    R = rotation_6d(a)
    eye = torch.eye(3, dtype=torch.float64).expand(50, 3, 3)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, eye)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(50, dtype=torch.float64))
    torch.testing.assert_close(rotation_6d(torch.tensor([1.0, 0, 0, 0, 1, 0])), torch.eye(3))
    # a rotation's own first two columns give it back
    c, s = math.cos(0.7), math.sin(0.7)
    Rz = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(rotation_6d(torch.cat([Rz[:, 0], Rz[:, 1]])), Rz)


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_blend_matches_the_plain_formula(chunk_size):
    torch.manual_seed(0)
    layer = randomized(TokenSkinning(12, 10, frames=4, head_channels=8, chunk_size=chunk_size)).double()
    ptr = torch.tensor([0, 23, 40])
    query = torch.randn(40, 12, dtype=torch.float64)
    pos = torch.randn(40, 3, dtype=torch.float64)
    h0, hT = torch.randn(2, 5, 10, dtype=torch.float64), torch.randn(2, 5, 10, dtype=torch.float64)
    token_pos = torch.randn(2, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(layer(query, pos, h0, hT, token_pos, ptr),
                               reference_blend(layer, query, pos, h0, hT, token_pos, ptr))


def test_starts_at_the_rest_pose_and_moves_rigidly():
    layer = TokenSkinning(12, 10, frames=3, head_channels=8).double()
    ptr = torch.tensor([0, 30])
    query, pos = torch.randn(30, 12, dtype=torch.float64), torch.randn(30, 3, dtype=torch.float64)
    h0, hT = torch.randn(1, 4, 10, dtype=torch.float64), torch.randn(1, 4, 10, dtype=torch.float64)
    token_pos = pos[[0, 7, 14, 21]].unsqueeze(0)
    out = layer(query, pos, h0, hT, token_pos, ptr)
    torch.testing.assert_close(out, pos.unsqueeze(1).expand(-1, 3, -1))  # identity at initialisation
    # every token predicting the same rotation about the origin (pivot share s -> 0) and the same
    # shift: the blend is that rigid motion, so distances are kept exactly
    c, s = math.cos(0.5), math.sin(0.5)
    with torch.no_grad():
        last = layer.to_transforms[2]
        last.bias.view(3, 10)[2] = torch.tensor([c, s, 0.0, -s, c, 0.0, 0.1, 0.2, 0.3, -80.0], dtype=torch.float64)
    out = layer(query, pos, h0, hT, token_pos, ptr)
    R = rotation_6d(torch.tensor([c, s, 0.0, -s, c, 0.0], dtype=torch.float64))
    torch.testing.assert_close(out[:, 2], pos @ R.T + torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))
    torch.testing.assert_close(out[:, 1], pos)
    # the same rotation about each token's own vertex (s -> 1) is a blend of different rigid motions
    with torch.no_grad():
        last.bias.view(3, 10)[2, 9] = 80.0
    bent = layer(query, pos, h0, hT, token_pos, ptr)[:, 2]
    assert not torch.allclose(torch.cdist(bent, bent), torch.cdist(pos, pos), atol=1e-6)


def test_vae_blend_decoder_round_trips_and_starts_as_the_offset_decoder():
    cfg = dict(enc_depth=1, dec_depth=1, dim=16, output_dim=12, latent_dim=4, heads=2, dim_head=8, T=4, num_traj=8)
    torch.manual_seed(0)
    offsets = DyMeshVAE(DyMeshVAEConfig(**cfg))
    blend = DyMeshVAE(DyMeshVAEConfig(**cfg, decoder="blend", skin_channels=8))
    assert set(offsets.state_dict()) < set(blend.state_dict())
    assert {k.split(".")[0] for k in set(blend.state_dict()) - set(offsets.state_dict())} == {"skinning"}
    blend.load_state_dict({**blend.state_dict(), **offsets.state_dict()})
    from torch_geometric.data import Data

    pos = torch.rand(40, 3) * 2 - 1
    data = Data(pos=pos, edge_index=torch.empty(2, 0, dtype=torch.long), traj=torch.randn(40, 4, 3) * 0.1)
    offsets.eval(), blend.eval()
    with torch.no_grad():
        a = offsets(data, num_tokens=8, sample_posterior=False).recon
        b = blend(data, num_tokens=8, sample_posterior=False).recon
    torch.testing.assert_close(a, b)  # the skinning head starts at the identity


def test_decoder_option_is_checked():
    with pytest.raises(ValueError, match="Expected decoder to be 'offsets', 'skin' or 'blend'"):
        DyMeshVAEConfig(decoder="lbs")


def test_weights_are_local_at_initialisation():
    """The distance term makes each token a local bone: a vertex on a token weighs it most."""
    torch.manual_seed(0)
    layer = TokenSkinning(12, 10, frames=2, head_channels=8, radius=0.1)
    pos = torch.rand(200, 3) * 2 - 1
    token_pos = pos[:16]
    keys = layer.lin_k(layer.norm_k(torch.randn(16, 10)))
    w = layer.weights(torch.randn(200, 12), pos, keys, token_pos)
    torch.testing.assert_close(w.sum(-1), torch.ones(200))
    assert bool((w[:16].argmax(-1) == torch.arange(16)).all())


def test_blend_decoder_needs_the_token_vertices():
    from torch_geometric.data import Data

    cfg = DyMeshVAEConfig(enc_depth=1, dec_depth=1, dim=16, output_dim=12, latent_dim=4, heads=2, dim_head=8, T=4,
                          num_traj=8, decoder="blend", skin_channels=8)
    vae = DyMeshVAE(cfg).eval()
    data = Data(pos=torch.rand(20, 3), edge_index=torch.empty(2, 0, dtype=torch.long))
    latents, post = vae.encode(data, num_tokens=8, sample_posterior=False)
    with pytest.raises(ValueError, match="Expected 'token_index'"):
        vae.decode(latents, data)
    assert vae.decode(latents, data, token_index=post.token_index).shape == (20, 4, 3)


def test_skin_decoder_has_no_offset_head_and_starts_still():
    from torch_geometric.data import Data

    cfg = dict(enc_depth=1, dec_depth=1, dim=16, output_dim=12, latent_dim=4, heads=2, dim_head=8, T=4, num_traj=8)
    vae = DyMeshVAE(DyMeshVAEConfig(**cfg, decoder="skin", skin_channels=8)).eval()
    assert not any(k.startswith(("vertex_attn.", "to_offsets.")) for k in vae.state_dict())
    pos = torch.rand(30, 3) * 2 - 1
    data = Data(pos=pos, edge_index=torch.empty(2, 0, dtype=torch.long), traj=torch.randn(30, 4, 3))
    with torch.no_grad():
        out = vae(data, num_tokens=8, sample_posterior=False)
    assert out.residual is None
    torch.testing.assert_close(out.recon, pos.unsqueeze(1).expand(-1, 4, -1))  # no motion before training


def test_init_from_a_paper_decoder_into_the_skin_decoder(tmp_path):
    from meshflow.train.loop import load_initial_weights

    cfg = dict(enc_depth=1, dec_depth=1, dim=16, output_dim=12, latent_dim=4, heads=2, dim_head=8, T=4, num_traj=8)
    paper = DyMeshVAE(DyMeshVAEConfig(**cfg))
    paper.save_component(tmp_path / "m", "vae")
    skin = DyMeshVAE(DyMeshVAEConfig(**cfg, decoder="skin", skin_channels=8))
    fresh = {k: v.clone() for k, v in skin.state_dict().items() if k.startswith("skinning.")}
    with pytest.raises(Exception, match="init_from"):
        load_initial_weights(skin, tmp_path / "m", "vae")  # without the allowances every mismatch is refused
    load_initial_weights(skin, tmp_path / "m", "vae", new_modules=("skinning",),
                         dropped_modules=("vertex_attn", "to_offsets"))
    state = skin.state_dict()
    for k, v in paper.state_dict().items():
        if not k.startswith(("vertex_attn.", "to_offsets.")):
            torch.testing.assert_close(state[k], v)
    for k, v in fresh.items():
        torch.testing.assert_close(state[k], v)


def test_blend_residual_is_priced_in_the_loss_and_absent_elsewhere():
    from torch_geometric.data import Data

    cfg = dict(enc_depth=1, dec_depth=1, dim=16, output_dim=12, latent_dim=4, heads=2, dim_head=8, T=4, num_traj=8)
    torch.manual_seed(0)
    pos = torch.rand(30, 3) * 2 - 1
    data = Data(pos=pos, edge_index=torch.empty(2, 0, dtype=torch.long), traj=torch.randn(30, 4, 3) * 0.1)
    blend = DyMeshVAE(DyMeshVAEConfig(**cfg, decoder="blend", skin_channels=8)).eval()
    with torch.no_grad():
        out = blend(data, num_tokens=8, sample_posterior=False)
        skinned = blend.decode(out.latents, data, token_index=out.token_index)
        base, _ = blend.loss(out, data, beta=0.0)
        priced, logs = blend.loss(out, data, beta=0.0, residual_weight=0.5)
    torch.testing.assert_close(out.recon, skinned)
    expected = out.residual.norm(dim=-1).mean()
    torch.testing.assert_close(logs["residual"], expected)
    torch.testing.assert_close(priced, base + 0.5 * expected)
    for decoder in ("offsets", "skin"):
        model = DyMeshVAE(DyMeshVAEConfig(**cfg, decoder=decoder, skin_channels=8)).eval()
        with torch.no_grad():
            o = model(data, num_tokens=8, sample_posterior=False)
            _, logs = model.loss(o, data, residual_weight=0.5)
        assert o.residual is None and "residual" not in logs
