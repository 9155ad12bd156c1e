import json
import math

import pytest
import torch

import meshflow.models.mmdit as mmdit_module
from meshflow import flow
from meshflow.errors import MeshflowError
from tests.flow.golden import close, load_case, load_model, recorded_frequencies


# ----------------------------------------------------------------- golden ---
@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-8), (torch.float32, 1e-4)])
def test_golden_loss(shared, dtype, rtol):
    case, model = load_case(shared), load_model(shared, dtype)
    assert torch.equal(flow.cosmap(case["train_u"]), case["train_t"])
    with torch.no_grad():
        got = flow.loss(model, case["train_x_start"].to(dtype), case["text_hidden"][1:].to(dtype),
                        t=flow.cosmap(case["train_u"].to(dtype)), noise=case["train_noise"].to(dtype))
    assert abs(got.item() - case["train_loss"].item()) <= rtol * case["train_loss"].item()


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-8), (torch.float32, 1e-4)])
def test_golden_sample(shared, dtype, rtol):
    case, model = load_case(shared), load_model(shared, dtype)
    with torch.no_grad():
        out = flow.sample(model, case["sample_f0"].to(dtype), case["sample_text_hidden"].to(dtype),
                          steps=int(case["sample_steps"]), guidance=float(case["sample_guidance"]),
                          noise=case["sample_noise"].to(dtype))
    assert out.dtype == dtype
    ok, err = close(out, case["sample_out"], rtol)
    assert ok, f"max abs error {err}"


def test_golden_exact_with_recorded_frequencies(shared, monkeypatch):
    monkeypatch.setattr(mmdit_module, "time_frequencies", recorded_frequencies)
    case, model = load_case(shared), load_model(shared)
    out = flow.sample(model, case["sample_f0"], case["sample_text_hidden"], steps=8, guidance=3.0,
                      noise=case["sample_noise"])
    assert (out - case["sample_out"]).abs().max() < 1e-12
    with torch.no_grad():
        got = flow.loss(model, case["train_x_start"], case["text_hidden"][1:], t=case["train_t"],
                        noise=case["train_noise"])
    assert abs(got.item() - case["train_loss"].item()) < 1e-12


# ------------------------------------------------------------ conventions ---
class Recorder(torch.nn.Module):
    """A velocity model that records its inputs and returns ``velocity(x, t)``."""

    def __init__(self, velocity=None):
        super().__init__()
        self.velocity = velocity or (lambda x, t: torch.zeros_like(x))
        self.calls = []

    def forward(self, x, t, text, text_mask=None, cond=None):
        self.calls.append(dict(x=x.clone(), t=t.clone(), text=text, mask=text_mask, cond=cond))
        return self.velocity(x, t)


def test_cosmap_and_schedules():
    u = torch.tensor([0.0, 0.5, 1.0 - 1e-7], dtype=torch.float64)
    assert torch.allclose(flow.cosmap(u), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), atol=1e-6)
    g = torch.Generator().manual_seed(0)
    for schedule in ("cosmap", "logit_normal", "uniform"):
        t = flow.sample_time(1000, schedule, generator=g)
        assert t.shape == (1000,) and 0 <= t.min() and t.max() <= 1
    with pytest.raises(ValueError, match="Expected schedule"):
        flow.sample_time(3, "cosine")


def test_loss_conventions():
    L, x1, noise = 2, torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    t = torch.tensor([0.0, 0.5, 1.0])
    model = Recorder(lambda x, t: torch.full_like(x, 7.0))  # shape-channel output must not count
    text = (torch.randn(3, 2, 8), torch.ones(3, 2, dtype=torch.bool))
    per = flow.loss(model, x1, text, t=t, noise=noise, reduction="none")
    xt = model.calls[0]["x"]
    assert torch.equal(xt[..., :L], x1[..., :L])  # shape channels clean
    assert torch.allclose(xt[1, :, L:], 0.5 * x1[1, :, L:] + 0.5 * noise[1, :, L:])
    assert torch.equal(xt[0, :, L:], noise[0, :, L:]) and torch.equal(xt[2, :, L:], x1[2, :, L:])  # t=0 noise
    target = (x1 - noise)[..., L:]
    assert torch.allclose(per, (7.0 - target).pow(2).mean((1, 2)))
    assert model.calls[0]["mask"] is text[1] and model.calls[0]["cond"] is None
    assert torch.allclose(flow.loss(model, x1, text, t=t, noise=noise), per.mean())


def test_loss_cond_dropout_and_arguments():
    model = Recorder()
    g = torch.Generator().manual_seed(0)
    flow.loss(model, torch.randn(2000, 1, 2), torch.randn(2000, 1, 3), cond_drop_prob=0.25, generator=g)
    cond = model.calls[0]["cond"]
    assert cond.dtype == torch.bool and 0.2 < (~cond).float().mean() < 0.3
    with pytest.raises(ValueError, match="not both"):
        flow.loss(model, torch.randn(1, 1, 2), (torch.randn(1, 1, 3), None), torch.ones(1, 1, dtype=torch.bool))
    with pytest.raises(ValueError, match="reduction"):
        flow.loss(model, torch.randn(1, 1, 2), torch.randn(1, 1, 3), reduction="sum")


def test_sample_resets_shape_channels_and_batches_guidance():
    B, K, L, steps = 2, 3, 2, 5
    f0 = torch.randn(B, K, L)
    model = Recorder(lambda x, t: torch.ones_like(x))
    text, mask = torch.randn(B, 4, 8), torch.ones(B, 4, dtype=torch.bool)
    out = flow.sample(model, f0, (text, mask), steps=steps, guidance=3.0, noise=torch.zeros(B, K, 2 * L))
    assert len(model.calls) == 2 * (steps - 1)  # midpoint: two calls per step, cond + uncond batched
    for call in model.calls:
        assert call["x"].shape[0] == 2 * B
        assert torch.equal(call["x"][..., :L], torch.cat([f0, f0]))
        assert torch.equal(call["cond"], torch.tensor([True, True, False, False]))
        assert torch.equal(call["text"], torch.cat([text, text])) and call["mask"].shape == (2 * B, 4)
    ts = [c["t"][0].item() for c in model.calls]
    assert ts[:4] == pytest.approx([0.0, 0.125, 0.25, 0.375])
    assert torch.equal(out[..., :L], f0) and torch.allclose(out[..., L:], torch.ones(B, K, L))


def test_sample_guidance_formula_and_solvers():
    # v_cond = 2, v_uncond = 1 -> v = 1 + g (2 - 1)
    def velocity(x, t):
        half = x.shape[0] // 2
        return torch.cat([torch.full_like(x[:half], 2.0), torch.full_like(x[half:], 1.0)])

    f0 = torch.zeros(1, 2, 1)
    out = flow.sample(Recorder(velocity), f0, torch.randn(1, 3, 4), steps=4, guidance=3.0,
                      noise=torch.zeros(1, 2, 2))
    assert torch.allclose(out[..., 1:], torch.full((1, 2, 1), 4.0))
    # no guidance: one unbatched conditional call per evaluation
    rec = Recorder(lambda x, t: t[:, None, None].expand_as(x).clone())
    out = flow.sample(rec, f0, torch.randn(1, 3, 4), steps=11, guidance=None, noise=torch.zeros(1, 2, 2),
                      time_dtype=torch.float64)
    assert all(c["x"].shape[0] == 1 and bool(c["cond"].all()) for c in rec.calls)
    assert torch.allclose(out[..., 1:], torch.full((1, 2, 1), 0.5), atol=1e-6)  # midpoint is exact for v = t
    out = flow.sample(Recorder(lambda x, t: t[:, None, None].expand_as(x).clone()), f0, torch.randn(1, 3, 4),
                      steps=11, guidance=1.0, solver="euler", noise=torch.zeros(1, 2, 2))
    assert torch.allclose(out[..., 1:], torch.full((1, 2, 1), 0.45), atol=1e-6)  # left Riemann sum
    with pytest.raises(ValueError, match="solver"):
        flow.sample(Recorder(), f0, torch.randn(1, 3, 4), solver="rk5")
    with pytest.raises(ValueError, match="noise"):
        flow.sample(Recorder(), f0, torch.randn(1, 3, 4), noise=torch.zeros(1, 2, 3))


def test_sample_generator_is_reproducible_and_broadcasts_text():
    f0 = torch.randn(3, 2, 1)
    run = lambda: flow.sample(Recorder(), f0, torch.randn(1, 2, 4), steps=3,  # noqa: E731
                              generator=torch.Generator().manual_seed(5))
    a, b = run(), run()
    assert torch.equal(a, b) and a.shape == (3, 2, 2)


# -------------------------------------------------------- standardisation ---
def test_standardize_roundtrip_and_factors(tmp_path):
    factors = flow.LatentFactors(0.01, 1.3, -0.02, 0.7)
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    s = flow.standardize(x, factors)
    assert torch.allclose(s[..., :3], (x[..., :3] - 0.01) / 1.3)
    assert torch.allclose(s[..., 3:], (x[..., 3:] + 0.02) / 0.7)
    assert torch.allclose(flow.destandardize(s, factors), x)
    path = tmp_path / "f.json"
    path.write_text(json.dumps(factors.to_dict()))
    assert flow.LatentFactors.from_json(path) == factors
    path.write_text(json.dumps({"f0_mean": 0.0, "f0_std": 1.0}))
    with pytest.raises(MeshflowError, match="missing: ft_mean, ft_std"):
        flow.LatentFactors.from_json(path)
    with pytest.raises(MeshflowError, match="positive stds"):
        flow.LatentFactors.from_dict({"f0_mean": 0, "f0_std": 0, "ft_mean": 0, "ft_std": 1})
    with pytest.raises(MeshflowError, match="not found"):
        flow.LatentFactors.from_json(tmp_path / "nope.json")


def test_compute_factors_streams():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(500, 4, 2, generator=g) * 2 + 1, torch.randn(500, 4, 2, generator=g) * 0.5 - 3], -1)
    f = flow.compute_factors(list(x.split(64)))
    assert f.f0_mean == pytest.approx(x[..., :2].double().mean().item(), abs=1e-9)
    assert f.f0_std == pytest.approx(x[..., :2].double().std().item(), abs=1e-9)
    assert f.ft_mean == pytest.approx(x[..., 2:].double().mean().item(), abs=1e-9)
    assert f.ft_std == pytest.approx(x[..., 2:].double().std().item(), abs=1e-9)
    s = flow.standardize(x, f)
    assert abs(s.mean().item()) < 1e-4 and math.isclose(s[..., 2:].std().item(), 1.0, rel_tol=1e-3)
