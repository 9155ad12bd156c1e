"""The flow trains: a tiny MMDiT learns two prompts -> two latent clusters on CPU."""

import torch

from meshflow import flow
from meshflow.models import MMDiT, MMDiTConfig


def test_tiny_mmdit_learns_two_prompt_clusters():
    g = torch.Generator().manual_seed(0)
    K, L, S, D = 4, 2, 3, 8
    prompts = torch.randn(2, S, D, generator=g)  # two "prompts" as per-token features
    mask = torch.tensor([[True, True, False], [True, True, True]])  # different lengths, one padded
    centers = torch.tensor([2.0, -2.0])  # trajectory latents of prompt 0 near +2, of prompt 1 near -2
    model = MMDiT(MMDiTConfig(input_channels=2 * L, output_channels=2 * L, width=32, layers=2, heads=2, text_dim=D))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)

    for _ in range(250):
        which = torch.randint(0, 2, (64,), generator=g)
        f0 = torch.randn(64, K, L, generator=g)  # shape latents: unrelated to the prompt
        ft = centers[which][:, None, None] + 0.3 * torch.randn(64, K, L, generator=g)
        loss = flow.loss(model, torch.cat([f0, ft], -1), (prompts[which], mask[which]), cond_drop_prob=0.1,
                         generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 1.0

    model.eval()
    f0 = torch.randn(8, K, L, generator=g)
    for p in range(2):
        out = flow.sample(model, f0, (prompts[p:p + 1], mask[p:p + 1]), steps=12, guidance=2.0, generator=g)
        assert torch.equal(out[..., :L], f0)
        means = out[..., L:].mean((1, 2))  # (8,)
        assert ((means - centers[p]).abs() < 1.0).all(), (p, means)
