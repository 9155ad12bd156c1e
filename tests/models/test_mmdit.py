from dataclasses import asdict

import pytest
import torch

import meshflow.models.mmdit as mmdit_module
from meshflow.errors import CheckpointError
from meshflow.models import MMDiT, MMDiTConfig
from meshflow.models.hub import save_model_dir
from meshflow.models.mmdit import (
    config_from_original,
    convert_original_state_dict,
    load_mmdit,
    timestep_embedding,
    to_original_state_dict,
)
from tests.flow.golden import close, load_case, load_model, recorded_frequencies


def tiny(text_dim=8, **kw):
    cfg = dict(input_channels=6, output_channels=6, width=16, layers=2, heads=2, text_dim=text_dim)
    cfg.update(kw)
    model = MMDiT(MMDiTConfig(**cfg))
    for p in model.parameters():  # the zero init would hide most of the computation
        torch.nn.init.normal_(p, std=0.3)
    return model.eval()


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-8), (torch.float32, 1e-4)])
def test_golden_velocities(shared, dtype, rtol):
    case, model = load_case(shared), load_model(shared, dtype)
    x, t, text = case["x"].to(dtype), case["t"].to(dtype), case["text_hidden"].to(dtype)
    with torch.no_grad():
        v_cond = model(x, t, text)
        v_uncond = model(x, t, text, cond=torch.zeros(2, dtype=torch.bool))
    for got, want in ((v_cond, case["v_cond"]), (v_uncond, case["v_uncond"])):
        ok, err = close(got, want, rtol)
        assert ok, f"max abs error {err}"


def test_golden_velocities_exact_with_recorded_frequencies(shared, monkeypatch):
    monkeypatch.setattr(mmdit_module, "time_frequencies", recorded_frequencies)
    case, model = load_case(shared), load_model(shared)
    with torch.no_grad():
        v_cond = model(case["x"], case["t"], case["text_hidden"])
        v_uncond = model(case["x"], case["t"], case["text_hidden"], cond=torch.zeros(2, dtype=torch.bool))
    assert (v_cond - case["v_cond"]).abs().max() < 1e-12
    assert (v_uncond - case["v_uncond"]).abs().max() < 1e-12


def test_timestep_embedding():
    t = torch.tensor([0.0, 0.5], dtype=torch.float64)
    emb = timestep_embedding(t, 8)
    assert emb.shape == (2, 8) and emb.dtype == torch.float64
    assert torch.equal(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4, dtype=torch.float64))  # cos half first
    freqs = 10000.0 ** (-torch.arange(4, dtype=torch.float64) / 4)
    assert torch.allclose(emb[1, 4:], torch.sin(0.5 * freqs), atol=1e-7)
    assert timestep_embedding(t, 7).shape == (2, 7)


def test_text_padding_does_not_change_the_result():
    torch.manual_seed(1)
    model = tiny()
    x, t = torch.randn(2, 5, 6), torch.rand(2)
    text, mask = torch.randn(2, 3, 8), torch.tensor([[True, True, True], [True, True, False]])
    padded = torch.cat([text, torch.randn(2, 4, 8)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(2, 4, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        ref = model(x, t, text, mask)
        assert torch.allclose(model(x, t, padded, padded_mask), ref, atol=1e-5)
        # all-valid mask = no mask; cond=True = no cond
        assert torch.allclose(model(x, t, text, torch.ones(2, 3, dtype=torch.bool)), model(x, t, text), atol=1e-5)
        assert torch.equal(model(x, t, text, mask, torch.ones(2, dtype=torch.bool)), ref)
        # the masked unconditional branch is the same for every prompt and padding
        uncond = torch.zeros(2, dtype=torch.bool)
        u1 = model(x, t, text, mask, uncond)
        u2 = model(x, t, torch.randn(2, 9, 8), torch.ones(2, 9, dtype=torch.bool), uncond)
        assert torch.allclose(u1, u2, atol=1e-5)
        assert not torch.allclose(u1, ref, atol=1e-3)


def test_unconditional_without_mask_is_prompt_independent():
    model = tiny()
    x, t = torch.randn(1, 5, 6), torch.rand(1)
    uncond = torch.zeros(1, dtype=torch.bool)
    with torch.no_grad():
        a = model(x, t, torch.randn(1, 4, 8), cond=uncond)
        b = model(x, t, torch.randn(1, 4, 8), cond=uncond)
    assert torch.equal(a, b)


def test_batch_rows_are_independent():
    model = tiny()
    x, t, text = torch.randn(3, 5, 6), torch.rand(3), torch.randn(3, 4, 8)
    cond = torch.tensor([True, False, True])
    with torch.no_grad():
        full = model(x, t, text, cond=cond)
        one = model(x[1:2], t[1:2], text[1:2], cond=cond[1:2])
    assert torch.allclose(full[1:2], one, atol=1e-5)


def test_init_outputs_zero_and_trains():
    model = MMDiT(MMDiTConfig(input_channels=6, output_channels=6, width=16, layers=1, heads=2, text_dim=8))
    x, t, text = torch.randn(2, 5, 6), torch.rand(2), torch.randn(2, 3, 8)
    out = model(x, t, text)
    assert out.shape == (2, 5, 6) and torch.equal(out, torch.zeros_like(out))
    out.pow(2).sum().backward()  # no error; output projection gets a gradient path
    assert model.output_proj.weight.grad is not None


def test_shape_errors_and_repr():
    model = tiny()
    with pytest.raises(ValueError, match="Expected 'x' with 6 channels"):
        model(torch.randn(1, 5, 4), torch.rand(1), torch.randn(1, 3, 8))
    with pytest.raises(ValueError, match=r"Expected 'text' of shape \(1, S, 8\)"):
        model(torch.randn(1, 5, 6), torch.rand(1), torch.randn(1, 3, 7))
    with pytest.raises(ValueError, match="Expected 'text_mask' of shape"):
        model(torch.randn(1, 5, 6), torch.rand(1), torch.randn(1, 3, 8), torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="divisible by 'heads'"):
        MMDiTConfig(width=10, heads=4)
    assert repr(model) == "MMDiT(width=16, layers=2, heads=2)"
    assert repr(model.blocks[0]) == "JointBlock(16, heads=2)"


def test_original_key_mapping_errors():
    with pytest.raises(CheckpointError, match="unknown keys: foo.weight"):
        convert_original_state_dict({"foo.weight": torch.zeros(1)})
    mapped, clip = convert_original_state_dict({"clip_token_mlp.weight": torch.zeros(4, 768),
                                                "clip_text_model.text_model.x": torch.zeros(1)})
    assert set(mapped) == {"text_proj.weight"} and set(clip) == {"text_model.x"}
    cfg = config_from_original({"input_channels": 16, "width": 64, "heads": 4, "layers": 2, "use_flash2": True,
                                "cond_drop_prob": 0.1}, {"clip_token_mlp.weight": torch.zeros(64, 384)})
    assert cfg.text_dim == 384 and cfg.width == 64
    state = tiny().state_dict()
    back, _ = convert_original_state_dict(to_original_state_dict(state))
    assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)
    with pytest.raises(CheckpointError, match="unknown key 'x'"):
        to_original_state_dict({"x": torch.zeros(1)})


def test_load_mmdit_roundtrip(tmp_path):
    model = tiny()
    save_model_dir(tmp_path / "m", {"mmdit": asdict(model.config)}, {"mmdit": model.state_dict()})
    loaded = load_mmdit(tmp_path / "m")
    x, t, text = torch.randn(1, 5, 6), torch.rand(1), torch.randn(1, 3, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x, t, text), model(x, t, text))
    state = model.state_dict()
    state["input_proj.weight"] = torch.zeros(16, 4)
    save_model_dir(tmp_path / "bad", {"mmdit": asdict(model.config)}, {"mmdit": state})
    with pytest.raises(CheckpointError, match="expected 'input_proj.weight' of shape"):
        load_mmdit(tmp_path / "bad")
