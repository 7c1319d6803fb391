"""Int8Embedding: per-row int8 tables, and the weight-only presets that use them."""
import copy

import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim.models import TransformerEncoder
from nnslim.nn import Int4Linear, Int8Embedding


def test_matches_embedding_within_int8_error():
    torch.manual_seed(0)
    emb = nn.Embedding(100, 32, padding_idx=0)
    q = Int8Embedding.from_float(emb)
    ids = torch.randint(0, 100, (4, 7))
    with torch.no_grad():
        ref, got = emb(ids), q(ids)
    assert got.shape == ref.shape and got.dtype == torch.float32
    assert ((got - ref).norm() / ref.norm()) < 0.01
    assert torch.equal(q(torch.tensor([0])), torch.zeros(1, 32))  # the padding row stays zero
    assert torch.equal(got, q.weight_int8[ids].float() * q.weight_scale[ids][..., None])


def test_bad_inputs():
    q = Int8Embedding.from_float(nn.Embedding(10, 4))
    with pytest.raises(TypeError, match="index tensor"):
        q(torch.randn(3))
    with pytest.raises(ValueError, match="max_norm"):
        Int8Embedding.from_float(nn.Embedding(10, 4, max_norm=1.0))
    with pytest.raises(TypeError, match="nn.Embedding"):
        Int8Embedding.from_float(nn.Linear(2, 2))


def test_int4_weight_preset_on_a_transformer_round_trips(tmp_path):
    torch.manual_seed(0)
    m = TransformerEncoder(vocab=512, layers=2).eval()
    ids = torch.randint(0, 512, (1, 16))
    with torch.no_grad():
        ref = m(ids)
    q = nnslim.quantize(copy.deepcopy(m), "int4_weight")
    assert isinstance(q.embed, Int8Embedding) and isinstance(q.layers[0].q, Int4Linear)
    with torch.no_grad():
        out = q(ids)
    # int4 weights cost ~10% per-layer weight error (cosine ~0.973 here); the int8 tables alone 0.99996.
    assert torch.nn.functional.cosine_similarity(out.flatten(), ref.flatten(), dim=0) > 0.95
    torch.save(m.state_dict(), tmp_path / "fp32.pt")
    nnslim.save(q, tmp_path / "int4.nns")
    ratio = (tmp_path / "int4.nns").stat().st_size / (tmp_path / "fp32.pt").stat().st_size
    assert ratio <= 0.15
    loaded = nnslim.load(tmp_path / "int4.nns", TransformerEncoder(vocab=512, layers=2))
    with torch.no_grad():
        assert torch.equal(loaded(ids), out)


def test_int8_dynamic_preset_covers_embeddings():
    torch.manual_seed(0)
    m = TransformerEncoder(vocab=512, layers=1).eval()
    q = nnslim.quantize(copy.deepcopy(m), "int8_dynamic")
    assert isinstance(q.embed, Int8Embedding) and isinstance(q.pos, Int8Embedding)
    ids = torch.randint(0, 512, (2, 8))
    with torch.no_grad():
        assert torch.nn.functional.cosine_similarity(q(ids).flatten(), m(ids).flatten(), dim=0) > 0.999
