import json
from pathlib import Path

import pytest
import torch

from meshflow import flow
from meshflow.commands.main import main
from meshflow.errors import CheckpointError
from meshflow.models import convert
from meshflow.models.convert import convert_original
from meshflow.models.hub import load_model_config
from meshflow.models import MMDiT, MMDiTConfig
from meshflow.models.mmdit import load_mmdit, to_original_state_dict
from meshflow.text import CLIP_WEIGHTS_ENV, CLIPTextEncoder, clip_tokenize, load_text_encoder
from tests.flow.golden import close, load_case


def golden(shared, name):
    return shared("golden", "animateanymesh", name)


def test_convert_original_cli_on_golden_files(shared, tmp_path):
    pytest.importorskip("meshflow.models.dymesh_vae")
    out = tmp_path / "model"
    rc = main(["convert-original", "--vae", str(golden(shared, "official_vae_state_dict.pt")),
               "--rf", str(golden(shared, "official_rf_state_dict.pt")),
               "--config", str(golden(shared, "training_config.json")),
               "--factors", str(golden(shared, "tiny_dvae_f.json")), "-o", str(out)])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "mmdit.safetensors", "vae.safetensors"]
    config = load_model_config(out)
    assert config["factors"] == {"f0_mean": 0.01, "f0_std": 1.3, "ft_mean": -0.02, "ft_std": 0.7}
    assert config["components"]["text_encoder"] == {"name": "clip-vit-l-14"}  # golden rf has no CLIP weights
    assert config["flow"]["shape_channels"] == 8 and config["flow"]["steps"] == 64
    from meshflow.models.dymesh_vae import DyMeshVAE

    vae = DyMeshVAE.from_directory(out)
    assert vae.config.latent_dim == 8

    case, model = load_case(shared), load_mmdit(out)
    factors = flow.LatentFactors.from_dict(config["factors"])
    assert factors.ft_std == 0.7
    out_sample = flow.sample(model, case["sample_f0"], case["sample_text_hidden"], steps=8, guidance=3.0,
                             noise=case["sample_noise"])
    ok, err = close(out_sample, case["sample_out"], 1e-8)
    assert ok, f"max abs error {err}"


def tiny_original_rf(transformers, seed: int = 0):
    """A tiny original rf_epoch_*.pth, as the original writes it: an MMDiT with 64-wide text features and a HF CLIP
    text model inside, DDP ``module.`` keys, the ``model_state_dict`` wrapper. Returns (mmdit, hf, checkpoint)."""
    torch.manual_seed(seed)
    mmdit = MMDiT(MMDiTConfig(input_channels=16, output_channels=16, width=32, layers=1, heads=2, text_dim=64))
    for p in mmdit.parameters():
        torch.nn.init.normal_(p, std=0.2)
    cfg = transformers.CLIPTextConfig(vocab_size=49408, hidden_size=64, intermediate_size=256, num_hidden_layers=1,
                                      num_attention_heads=1, max_position_embeddings=77, hidden_act="quick_gelu")
    hf = transformers.CLIPTextModel(cfg).eval()
    rf = {"module." + k: v for k, v in to_original_state_dict(mmdit.state_dict()).items()}
    rf.update({"module.clip_text_model.text_model." + k: v for k, v in hf.state_dict().items()})
    return mmdit, hf, {"model_state_dict": rf, "epoch": 1}


def test_convert_original_with_clip_inside_rf(shared, tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers")
    monkeypatch.delenv(CLIP_WEIGHTS_ENV, raising=False)
    mmdit, hf, checkpoint = tiny_original_rf(transformers, seed=0)
    torch.save(checkpoint, tmp_path / "rf_epoch_1.pth")
    rf_config = {"input_channels": 16, "output_channels": 16, "width": 32, "layers": 1, "heads": 2,
                 "init_scale": 0.25, "use_flash2": True, "cond_drop_prob": 0.1}
    (tmp_path / "training_config.json").write_text(json.dumps({"rf_config": rf_config}))

    out = convert_original(tmp_path / "m", rf=tmp_path / "rf_epoch_1.pth", config=tmp_path / "training_config.json",
                           factors=golden(shared, "tiny_dvae_f.json"))
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "mmdit.safetensors", "text_encoder.safetensors"]
    assert load_model_config(out)["flow"]["shape_channels"] == 8
    encoder = load_text_encoder(out)
    assert isinstance(encoder, CLIPTextEncoder) and encoder.width == 64 and encoder.heads == 1
    texts = ["a horse gallops"]
    with torch.no_grad():
        assert torch.allclose(encoder(texts).tokens, hf(clip_tokenize(texts)).last_hidden_state, atol=1e-5)
        x, t = torch.randn(1, 5, 16), torch.rand(1)
        tokens = encoder(texts).tokens
        assert torch.equal(load_mmdit(out)(x, t, tokens), mmdit(x, t, tokens))


def test_convert_original_refuses_bad_inputs(shared, tmp_path):
    config, factors = golden(shared, "training_config.json"), golden(shared, "tiny_dvae_f.json")
    torch.save({"model": torch.nn.Linear(1, 1)}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="refused to load"):
        convert_original(tmp_path / "m", rf=tmp_path / "evil.pth", config=config, factors=factors)
    torch.save({"foo.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match="wrong.pth: Expected an original MMDiT state dict"):
        convert_original(tmp_path / "m", rf=tmp_path / "wrong.pth", config=config, factors=factors)
    (tmp_path / "cfg.json").write_text(json.dumps({"vae_config": {}}))
    with pytest.raises(CheckpointError, match="expected the original training config with 'rf_config'"):
        convert_original(tmp_path / "m", rf=golden(shared, "official_rf_state_dict.pt"), config=tmp_path / "cfg.json",
                         factors=factors)
    assert not (tmp_path / "m").exists()


def counting_reads(monkeypatch):
    """The names of the files convert's JSON reader opens from now on (the training config's reader)."""
    reads, real = [], convert.read_json
    monkeypatch.setattr(convert, "read_json", lambda path, *a, **k: reads.append(Path(path).name) or real(path, *a, **k))
    return reads


def files_of(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def test_convert_original_uses_a_training_config_already_read(shared, tmp_path, monkeypatch):
    """A caller that has read training_config.json passes it: the file is not read again, the output is the same,
    and the given config is checked as a read one is."""
    config = golden(shared, "training_config.json")
    given = convert.read_training_config(config, ("rf_config", "vae_config"))
    paths = dict(vae=golden(shared, "official_vae_state_dict.pt"), rf=golden(shared, "official_rf_state_dict.pt"),
                 factors=golden(shared, "tiny_dvae_f.json"))
    reads = counting_reads(monkeypatch)
    read_itself = convert_original(tmp_path / "a", config=config, **paths)
    assert reads == ["training_config.json"]
    passed = convert_original(tmp_path / "b", config=config, training_config=given, **paths)
    assert reads == ["training_config.json"]  # not read again
    assert files_of(passed) == files_of(read_itself)
    with pytest.raises(CheckpointError, match=r"training_config.json: expected the original training config with "
                                              r"'rf_config' \(got keys: \['vae_config'\]\)"):
        convert_original(tmp_path / "c", config=config, training_config={"vae_config": given["vae_config"]}, **paths)
    assert reads == ["training_config.json"] and not (tmp_path / "c").exists()


def test_cli_error_is_one_line(shared, tmp_path, capsys):
    rc = main(["convert-original", "--vae", str(tmp_path / "missing_vae.pth"), "--rf", str(tmp_path / "missing.pth"),
               "--config", str(golden(shared, "training_config.json")),
               "--factors", str(golden(shared, "tiny_dvae_f.json")), "-o", str(tmp_path / "m")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("meshflow convert-original: error:") and "missing_vae.pth: checkpoint file not found" in err
    assert "\n" not in err


def test_convert_vae_only_then_reconstruct(shared, tmp_path, capsys):
    """`convert-original --vae --config` writes a VAE-only directory that `meshflow reconstruct` uses,
    and reproduces the golden reconstruction when given the golden tokens."""
    import numpy as np

    from meshflow.models.dymesh_vae import load_vae
    from meshflow.data import mesh_graph

    out = tmp_path / "vae"
    assert main(["convert-original", "--vae", str(golden(shared, "official_vae_state_dict.pt")),
                 "--config", str(golden(shared, "training_config.json")), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "vae.safetensors"]
    case = np.load(golden(shared, "vae_case_icosphere.npz"))
    vae = load_vae(out).double()
    data = mesh_graph(case["vertices"][0], case["faces"], weld=False, normalize=False)
    data.pos = torch.from_numpy(case["vertices"][0])
    data.traj = torch.from_numpy(case["vertices"] - case["vertices"][:1]).permute(1, 0, 2)
    with torch.no_grad():
        rec = vae(data, token_index=torch.from_numpy(case["fps_index"])[None], sample_posterior=False).recon
    # the directory stores float32 weights (converted as loaded), computed here in float64
    np.testing.assert_allclose(rec.permute(1, 0, 2).numpy(), case["recon"], rtol=1e-5, atol=1e-5)

    anim = tmp_path / "ico.npz"
    np.savez(anim, vertices=case["vertices"].astype(np.float32), faces=case["faces"])
    assert main(["reconstruct", "--checkpoint", str(out), "--input", str(anim), "--output",
                 str(tmp_path / "rec.npz"), "--tokens", "32"]) == 0
    assert "mean per-vertex error" in capsys.readouterr().out
    assert np.load(tmp_path / "rec.npz")["vertices"].shape == case["vertices"].shape


def test_convert_original_argument_errors(shared, tmp_path, capsys):
    config = str(golden(shared, "training_config.json"))
    assert main(["convert-original", "--config", config, "-o", str(tmp_path / "x")]) == 2
    assert "nothing to convert" in capsys.readouterr().err
    assert main(["convert-original", "--rf", str(golden(shared, "official_rf_state_dict.pt")), "--config", config,
                 "-o", str(tmp_path / "x")]) == 2
    assert "needs its latent factors JSON (--factors)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
