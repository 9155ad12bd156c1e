"""Model directories (meshflow.models.hub): components save and load through ModelMixin."""
import json
import os
import re
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from meshflow.errors import CheckpointError
from meshflow.models import DyMeshVAE, DyMeshVAEConfig, MMDiT, MMDiTConfig
from meshflow.models.hub import (ModelMixin, config_from_dict, load_component, load_model_config, load_strict,
                                 safe_torch_load, save_model_dir)
from meshflow.models.mmdit import config_from_original
from meshflow.pipeline import BUNDLED_MODEL, AnimationPipeline

VAE = DyMeshVAEConfig(enc_depth=1, dec_depth=1, dim=16, output_dim=12, latent_dim=4, heads=2, dim_head=8, T=4,
                      num_traj=8)
DIT = MMDiTConfig(input_channels=8, output_channels=8, width=16, layers=1, heads=2, text_dim=384)


def noisy(model):
    torch.manual_seed(0)
    with torch.no_grad():  # the zero-initialised outputs would make every model look alike
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


@pytest.fixture(params=["vae", "mmdit"])
def model(request):
    return noisy(DyMeshVAE(VAE) if request.param == "vae" else MMDiT(DIT))


def assert_same(a, b):
    assert type(a) is type(b) and a.config == b.config and b.training is False
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_models_take_their_config():
    assert DyMeshVAE(VAE).config is VAE and MMDiT(DIT).config is DIT
    assert DyMeshVAE().config == DyMeshVAEConfig() and MMDiT().config == MMDiTConfig()
    assert isinstance(DyMeshVAE(VAE), ModelMixin) and DyMeshVAE.component == "vae" and MMDiT.component == "mmdit"
    with pytest.raises(TypeError, match=r"Expected a DyMeshVAEConfig \(got dict\)"):
        DyMeshVAE({"dim": 16})
    with pytest.raises(TypeError, match=r"Expected an MMDiTConfig \(got int\)"):
        MMDiT(48)


def test_from_config_refuses_unknown_keys():
    assert DyMeshVAE.from_config({"dim": 16, "dim_head": 8}).config.dim == 16
    with pytest.raises(CheckpointError, match=r"unknown MMDiT config key\(s\) depth, foo \(expected some of: "):
        MMDiT.from_config({"width": 16, "heads": 2, "depth": 2, "foo": 1})
    with pytest.raises(CheckpointError, match=r"invalid MMDiT config \(Expected 'width' divisible by 'heads'"):
        MMDiT.from_config({"width": 10, "heads": 4})
    with pytest.raises(CheckpointError, match=r"unknown DyMeshVAE config key\(s\) x"):
        config_from_dict(DyMeshVAEConfig, {"x": 1}, "DyMeshVAE config")


@pytest.mark.parametrize("cls, values, problem", [
    (MMDiT, {"width": 256, "heads": 6}, r"Expected 'width' divisible by 'heads' \(got width=256, heads=6\)"),
    (MMDiT, {"heads": 0}, r"Expected 'heads' to be an integer of at least 1 \(got 0\)"),  # not "modulo by zero"
    (MMDiT, {"init_scale": "big"}, r"Expected 'init_scale' to be a number \(got \"big\"\)"),
    (DyMeshVAE, {"dim": "256"}, r"Expected 'dim' to be an integer of at least 1 \(got \"256\"\)"),
    (DyMeshVAE, {"latent_dim": -1}, r"Expected 'latent_dim' to be an integer of at least 1 \(got -1\)"),
    (DyMeshVAE, {"heads": None}, r"Expected 'heads' to be an integer of at least 1 \(got null\)"),
    (DyMeshVAE, {"T": 4.0}, r"Expected 'T' to be an integer of at least 1 \(got 4\.0\)"),
    (DyMeshVAE, {"enc_depth": True}, r"Expected 'enc_depth' to be an integer of at least 1 \(got true\)"),
    (DyMeshVAE, {"decoder": 1}, r"Expected 'decoder' to be a string \(got 1\)"),
    (DyMeshVAE, {"output_dim": 13}, r"Expected output_dim = 3 \* T = 12 \(got output_dim=13\)"),
])
def test_invalid_config_values_are_one_line_naming_the_directory(cls, values, problem, tmp_path):
    """Values a config refuses, or that the layers could not take, are a CheckpointError naming the
    directory and the field, never the ValueError/TypeError/RuntimeError of a dataclass or a layer."""
    model = noisy(cls(VAE if cls is DyMeshVAE else DIT))
    out = model.save_component(tmp_path / "m")
    config = json.loads((out / "config.json").read_text())
    config["components"][model.component].update(values)
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(out))}: invalid {cls.__name__} config \({problem}\)$"):
        cls.from_directory(out)


def test_optional_fields_take_none_and_floats_take_integers():
    assert DyMeshVAE.from_config({**asdict(VAE), "chunk_size": None}).config.chunk_size is None
    assert MMDiT.from_config({**asdict(DIT), "init_scale": 1}).config.init_scale == 1


def test_a_model_that_cannot_be_built_from_its_config_is_a_checkpoint_error():
    class Broken(ModelMixin, torch.nn.Module):
        config_class = MMDiTConfig
        component = "broken"

        def __init__(self, config):
            super().__init__()
            raise RuntimeError("Trying to create tensor with negative dimension -1: [-1, 32]\nmore")

    with pytest.raises(CheckpointError, match=r"^invalid Broken config \(the layers cannot be built from it: "
                                              r"Trying to create tensor with negative dimension -1: \[-1, 32\]\)$"):
        Broken.from_config(asdict(DIT))


def test_save_load_round_trip(model, tmp_path):
    out = model.save_component(tmp_path / "m", extras={"note": "tiny"})
    name = model.component
    assert sorted(p.name for p in out.iterdir()) == ["config.json", f"{name}.safetensors"]
    config = load_model_config(out)
    assert config["note"] == "tiny" and config["format"] == "meshflow-model" and config["version"] == 1
    assert_same(model, type(model).from_directory(out))
    assert_same(model, type(model).from_directory(out, name, config["components"][name]))
    # the same files as save_model_dir writes for a whole model (the format did not change)
    cfg, state = load_component(out, name)
    save_model_dir(tmp_path / "n", {name: cfg}, {name: state}, extras={"note": "tiny"})
    assert (tmp_path / "n" / "config.json").read_text() == (out / "config.json").read_text()
    assert_same(model, type(model).from_directory(tmp_path / "n"))


def test_dtype_of_the_loaded_model(tmp_path):
    model = noisy(MMDiT(DIT))
    model.save_component(tmp_path / "half", dtype=torch.float16)
    assert MMDiT.from_directory(tmp_path / "half").output_proj.weight.dtype == torch.float16  # as stored
    loaded = MMDiT.from_directory(tmp_path / "half", dtype=torch.float32)
    assert loaded.output_proj.weight.dtype == torch.float32
    assert torch.equal(loaded.output_proj.weight, model.output_proj.weight.half().float())


def test_unknown_config_key_is_named(model, tmp_path):
    out = model.save_component(tmp_path / "m")
    config = json.loads((out / "config.json").read_text())
    config["components"][model.component]["depth"] = 3
    (out / "config.json").write_text(json.dumps(config))
    cls = type(model).__name__
    with pytest.raises(CheckpointError, match=rf"m: unknown {cls} config key\(s\) depth"):
        type(model).from_directory(out)


def test_missing_component_and_weight_file_are_named(model, tmp_path):
    out = model.save_component(tmp_path / "m", name="other")
    with pytest.raises(CheckpointError, match=rf"no '{model.component}' component \(has: other\)"):
        type(model).from_directory(out)
    (out / "other.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"missing weight file other\.safetensors for component 'other'"):
        type(model).from_directory(out, "other")


def test_strict_load_refuses_wrong_keys_and_shapes(model, tmp_path):
    name = model.component
    out = model.save_component(tmp_path / "m")
    path = out / f"{name}.safetensors"
    weights = load_file(str(path))
    key = sorted(k for k, v in weights.items() if v.dim() == 1)[0]
    save_file({**weights, key: torch.zeros(weights[key].numel() + 1)}, str(path))
    with pytest.raises(CheckpointError, match=rf"{name}\.safetensors: expected '{key}' of shape "
                                              rf"\({weights[key].numel()},\) \(got \({weights[key].numel() + 1},\)\)"):
        type(model).from_directory(out)
    save_file({k: v for k, v in weights.items() if k != key}, str(path))
    with pytest.raises(CheckpointError, match=rf"weights do not match the config \(missing: {key}; unexpected: none\)"):
        type(model).from_directory(out)
    save_file({**weights, "extra.weight": torch.zeros(1)}, str(path))
    with pytest.raises(CheckpointError, match=r"\(missing: none; unexpected: extra\.weight\)"):
        type(model).from_directory(out)


def test_load_strict_lists_the_first_mismatches():
    lin = torch.nn.Linear(2, 2)
    with pytest.raises(CheckpointError, match=r"here: weights do not match the config \(missing: bias, weight; "
                                              r"unexpected: a, b, c, d, e \.\.\.\); they do not fit Linear"):
        load_strict(lin, {k: torch.zeros(1) for k in "abcdefg"}, "here")


def make_model_dir(path: Path) -> Path:
    vae = noisy(DyMeshVAE(VAE))
    mmdit = noisy(MMDiT(DIT))
    return save_model_dir(
        path,
        {"vae": asdict(VAE), "mmdit": asdict(DIT), "text_encoder": {"name": "minilm"}},
        {"vae": vae.state_dict(), "mmdit": mmdit.state_dict()},
        extras={"factors": {"f0_mean": 0.0, "f0_std": 1.0, "ft_mean": 0.0, "ft_std": 1.0}},
    )


def count_config_reads(monkeypatch, model_dir):
    """Records every read of MODEL_DIR/config.json."""
    reads = []
    read_text = Path.read_text
    target = (Path(model_dir) / "config.json").resolve()

    def counting(self, *args, **kwargs):
        if self.name == "config.json" and self.resolve() == target:
            reads.append(self)
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    return reads


@pytest.mark.parametrize("which", ["tiny", "bundled"])
def test_from_pretrained_reads_config_once(which, tmp_path, monkeypatch):
    model_dir = make_model_dir(tmp_path / "m") if which == "tiny" else BUNDLED_MODEL
    if which == "bundled" and not (model_dir / "config.json").is_file():
        pytest.skip("this install has no bundled model")
    reads = count_config_reads(monkeypatch, model_dir)
    pipe = AnimationPipeline.from_pretrained(model_dir, device="cpu")
    assert len(reads) == 1
    config = json.loads((Path(model_dir) / "config.json").read_text())["components"]
    assert pipe.vae.config == DyMeshVAEConfig(**config["vae"])
    assert pipe.mmdit.config == MMDiTConfig(**config["mmdit"])
    assert pipe.vae.to_offsets.weight.dtype == pipe.mmdit.output_proj.weight.dtype == torch.float32
    assert_same(DyMeshVAE.from_directory(model_dir), pipe.vae)


def test_bundled_sampler_defaults_are_the_starter_recipes():
    """The bundled config.json's flow section is configs/flow/starter-sampling.json (what train_starter.sh
    bundles), and the pipeline samples with it when no option is given."""
    if not (BUNDLED_MODEL / "config.json").is_file():
        pytest.skip("this install has no bundled model")
    from meshflow.pipeline import FLOW_KEYS, SamplingConfig

    recipe = json.loads((Path(__file__).resolve().parents[2] / "configs" / "flow" / "starter-sampling.json").read_text())
    flow = json.loads((BUNDLED_MODEL / "config.json").read_text())["flow"]
    assert flow == recipe and set(flow) <= set(FLOW_KEYS)
    sampling = SamplingConfig.from_flow(flow)
    assert (sampling.steps, sampling.guidance, sampling.solver, sampling.num_samples) == \
        (flow["steps"], flow["guidance"], flow["solver"], flow["num_samples"])
    assert sampling.fps == SamplingConfig.fps  # not a flow key: the library's default


class _Runs:
    """Pickles into a call of os.system: loading it must refuse, not run it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_refused_checkpoints_read_as_one_short_line(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"w": _Runs(marker)}, tmp_path / "evil.pth")
    (tmp_path / "corrupt.pth").write_bytes(b"PK\x03\x04garbage")
    for name, pattern in (("evil.pth", r"evil\.pth: refused to load: it is a pickle that would call (posix|os)\.system"),
                          ("corrupt.pth", r"corrupt\.pth: refused to load: not a torch checkpoint")):
        with pytest.raises(CheckpointError, match=pattern) as e:
            safe_torch_load(tmp_path / name)
        message = str(e.value)
        assert len(message.replace(str(tmp_path), "")) <= 200 and "\x1b" not in message and "\n" not in message
    assert not marker.exists()


def test_weights_of_another_config_are_one_short_line(tmp_path):
    out = noisy(DyMeshVAE(VAE)).save_component(tmp_path / "m")
    config = json.loads((out / "config.json").read_text())
    config["components"]["vae"]["dim_head"] = 4  # a valid config, but not the one of the weights
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"vae\.safetensors: expected '([\w.]+)' of shape \(8, 16\) "
                                              r"\(got \(16, 16\)\); the DyMeshVAE weights do not match the config "
                                              r"\(wrong shape: \1 and \d+ more\)$") as e:
        DyMeshVAE.from_directory(out)
    assert len(str(e.value).replace(str(out), "")) <= 200


def test_original_rf_config_is_checked_like_a_model_directory():
    with pytest.raises(CheckpointError, match=r"^invalid rf_config \(Expected 'width' divisible by 'heads' "
                                              r"\(got width=256, heads=6\)\)$"):
        config_from_original({"width": 256, "heads": 6, "use_flash2": True})
