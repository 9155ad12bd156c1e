"""meshflow.models.text.minilm: published embeddings, padding, the feature cache, transformers parity."""
import pytest
import torch
import torch.nn.functional as F

from meshflow.models.text import MiniLMEncoder, TextFeatures, mean_pool, minilm_path


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEncoder()


def test_minilm_published_embedding(minilm):
    feats = minilm(["This is an example sentence", "Each sentence is converted"])
    assert isinstance(feats, TextFeatures) and feats.tokens.shape[-1] == 384
    assert feats.mask.dtype == torch.bool and feats.mask.shape == feats.tokens.shape[:2]
    emb = F.normalize(mean_pool(feats), dim=-1)
    assert torch.allclose(emb[0, :4], torch.tensor([0.0677, 0.0635, 0.0487, 0.0793]), atol=1e-4)
    assert torch.allclose(emb[1, :4], torch.tensor([0.0864, 0.1028, 0.0054, 0.0020]), atol=1e-4)


def test_minilm_padding_and_cache(minilm, monkeypatch):
    minilm.clear_cache()
    alone = minilm(["a cat jumps"])
    calls = []
    encode = minilm._encode
    monkeypatch.setattr(minilm, "_encode", lambda texts: calls.append(list(texts)) or encode(texts))
    both = minilm(["a cat jumps", "the green dragon flies slowly over the mountains", "a cat jumps"])
    assert calls == [["the green dragon flies slowly over the mountains"]]  # cached text not re-encoded
    n = int(alone.mask.sum())
    assert both.mask[0].sum() == n and not both.mask[0, n:].any() and both.mask[1].all()
    assert torch.allclose(both.tokens[0, :n], alone.tokens[0], atol=1e-5)
    assert torch.equal(both.tokens[0], both.tokens[2])
    assert (both.tokens[0, n:] == 0).all()
    minilm(["a cat jumps"])
    assert len(calls) == 1


def test_minilm_matches_transformers(minilm):
    transformers = pytest.importorskip("transformers")

    ref_model = transformers.BertModel.from_pretrained(str(minilm_path()), local_files_only=True).eval()
    ids, mask = minilm.tokenize(["a horse gallops", "hello"])
    with torch.no_grad():
        ref = ref_model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
    minilm.clear_cache()
    got = minilm(["a horse gallops", "hello"])
    assert torch.allclose(got.tokens[mask], ref[mask], atol=1e-4)


def test_cache_size_bounds(minilm):
    enc = MiniLMEncoder(cache_size=2)
    enc(["a", "b", "c"])
    assert list(enc._cache) == ["b", "c"]
    nocache = MiniLMEncoder(cache_size=0)
    nocache(["a"])
    assert not nocache._cache
