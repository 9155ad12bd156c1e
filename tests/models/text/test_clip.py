"""meshflow.models.text.clip: tokenizer, weight files, Hugging Face parity; loading from a model directory."""
import pytest
import torch

from meshflow.errors import CheckpointError, MeshflowError
from meshflow.models.hub import save_model_dir
from meshflow.models.text import (
    CLIP_WEIGHTS_ENV,
    CLIPTextEncoder,
    MiniLMEncoder,
    build_text_encoder,
    clip_state_dict_from_hf,
    clip_tokenize,
    load_text_encoder,
    read_clip_weights,
)

SOT, EOT = 49406, 49407
TINY = dict(width=32, heads=4, layers=2)


def tiny_open_clip_state():
    from open_clip.transformer import QuickGELU, TextTransformer

    torch.manual_seed(3)
    tower = TextTransformer(context_length=77, vocab_size=49408, act_layer=QuickGELU, output_dim=32, **TINY)
    return {k: v for k, v in tower.state_dict().items() if k != "text_projection"}


def test_clip_tokenizer_pads_with_end_of_text():
    ids = clip_tokenize(["a horse gallops", ""])
    assert ids.shape == (2, 77) and ids.dtype == torch.long
    assert ids[0, 0] == SOT and ids[1, 0] == SOT and ids[1, 1] == EOT
    n = int((ids[0] != EOT).sum())  # start + prompt tokens
    assert n >= 3 and (ids[0, n:] == EOT).all() and (ids[0, 1:n] < SOT).all()
    assert (ids[1, 1:] == EOT).all()
    long = clip_tokenize("dog " * 200)[0]
    assert long[0] == SOT and long[-1] == EOT and (long[1:-1] != EOT).all()


def test_clip_missing_weights_message(monkeypatch, tmp_path):
    monkeypatch.delenv(CLIP_WEIGHTS_ENV, raising=False)
    with pytest.raises(MeshflowError, match=rf"CLIP ViT-L/14 text weights needed .*open_clip_model\.safetensors"
                                            rf".*{CLIP_WEIGHTS_ENV}=PATH"):
        CLIPTextEncoder()
    with pytest.raises(MeshflowError, match="file not found"):
        CLIPTextEncoder(tmp_path / "clip.safetensors")
    monkeypatch.setenv(CLIP_WEIGHTS_ENV, str(tmp_path / "nope.bin"))
    with pytest.raises(MeshflowError, match="nope.bin: file not found"):
        load_text_encoder({"name": "clip-vit-l-14"})


def test_clip_weight_files(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    state = tiny_open_clip_state()
    save_file({"visual.proj": torch.zeros(2), "logit_scale": torch.ones(()), **state}, str(tmp_path / "oc.safetensors"))
    assert set(read_clip_weights(tmp_path / "oc.safetensors")) == set(state)
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}, "epoch": 3}, tmp_path / "epoch_3.pt")
    assert set(read_clip_weights(tmp_path / "epoch_3.pt")) == set(state)
    torch.save({"weights": state, "bad": torch.nn.Linear(1, 1)}, tmp_path / "pickle.pt")  # needs code to unpickle
    with pytest.raises(CheckpointError, match="refused to load"):
        read_clip_weights(tmp_path / "pickle.pt")
    monkeypatch.setenv(CLIP_WEIGHTS_ENV, str(tmp_path / "oc.safetensors"))
    enc = CLIPTextEncoder(**TINY)
    feats = enc(["a horse gallops"])
    assert feats.tokens.shape == (1, 77, 32) and feats.mask is None
    with pytest.raises(CheckpointError, match="do not fit|expected 'token_embedding.weight' of shape"):
        CLIPTextEncoder(state_dict=state)  # ViT-L/14 sizes expected


def test_clip_matches_hugging_face_text_model():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                                      bos_token_id=SOT, eos_token_id=EOT, pad_token_id=EOT)
    hf = transformers.CLIPTextModel(cfg).eval()
    texts = ["a horse gallops", "the dragon flies over the mountains", ""]
    with torch.no_grad():
        ref = hf(clip_tokenize(texts)).last_hidden_state  # (3, 77, 32)
    for prefix in ("clip_text_model.", "clip_text_model.text_model.", ""):  # original rf layouts, both HF eras
        state = {prefix + k.replace("text_model.", ""): v for k, v in hf.state_dict().items()}
        enc = CLIPTextEncoder(state_dict=clip_state_dict_from_hf(state), **TINY)
        assert torch.allclose(enc(texts).tokens, ref, atol=1e-5)


def test_load_text_encoder_from_model_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(CLIP_WEIGHTS_ENV, raising=False)
    enc = CLIPTextEncoder(state_dict=tiny_open_clip_state(), **TINY)
    save_model_dir(tmp_path / "m", {"text_encoder": enc.config()}, {"text_encoder": enc.tower.state_dict()})
    loaded = load_text_encoder(tmp_path / "m")
    assert isinstance(loaded, CLIPTextEncoder)
    assert torch.equal(loaded(["hi"]).tokens, enc(["hi"]).tokens)
    save_model_dir(tmp_path / "n", {"text_encoder": {"name": "minilm", "max_length": 64}}, {})
    assert isinstance(load_text_encoder(tmp_path / "n"), MiniLMEncoder)
    with pytest.raises(MeshflowError, match="Expected a text encoder name"):
        build_text_encoder({"name": "t5"})
    save_model_dir(tmp_path / "c", {"text_encoder": {"name": "clip-vit-l-14"}}, {})
    with pytest.raises(MeshflowError, match="CLIP ViT-L/14 text weights needed"):
        load_text_encoder(tmp_path / "c")
