"""Int8MultiheadAttention (nnslim/nn/int8_multihead_attention.py, attention core in nn/_attention.py):
the same forward as nn.MultiheadAttention (masks, layouts, kdim / vdim, bias_kv, zero_attn, weights),
int8 projections, and the conversions that swap it in (int8_dynamic, int8_static module by module
and on the graph path, nn.TransformerEncoder), saved and reloaded bit for bit."""
import copy
import itertools
import os
import pickle
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim.nn import Int8Linear, Int8MultiheadAttention

E, H, L, S, N = 32, 4, 5, 7, 3


def _cos(a, b):
    return float(F.cosine_similarity(a.flatten().double(), b.flatten().double(), 0))


def _mha(**kw):
    torch.manual_seed(0)
    m = nn.MultiheadAttention(E, H, **kw).eval()
    if m.bias_k is not None:
        nn.init.normal_(m.bias_k)
        nn.init.normal_(m.bias_v)
    if m.in_proj_bias is not None:
        nn.init.normal_(m.in_proj_bias, std=0.1)
        nn.init.normal_(m.out_proj.bias, std=0.1)
    return m


def _float_projections(q8: Int8MultiheadAttention, mha: nn.MultiheadAttention) -> Int8MultiheadAttention:
    """q8 with its four projections replaced by the float layers of ``mha``: what is left to compare
    is the attention core, which must match torch's to rounding."""
    f = copy.deepcopy(q8)
    if mha._qkv_same_embed_dim:
        ws = mha.in_proj_weight.chunk(3)
    else:
        ws = (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
    bs = mha.in_proj_bias.chunk(3) if mha.in_proj_bias is not None else (None,) * 3
    for name, w, b in zip(("q_proj", "k_proj", "v_proj"), ws, bs):
        lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        with torch.no_grad():
            lin.weight.copy_(w)
            if b is not None:
                lin.bias.copy_(b)
        setattr(f, name, lin)
    f.out_proj = copy.deepcopy(mha.out_proj)
    return f


def _inputs(mha, batched=True, cross=True):
    torch.manual_seed(1)
    lead = (lambda seq: (N, seq) if mha.batch_first else (seq, N)) if batched else (lambda seq: (seq,))
    q = torch.randn(*lead(L), E)
    if not cross:
        return q, q, q
    return q, torch.randn(*lead(S), mha.kdim), torch.randn(*lead(S), mha.vdim)


MODULE_KW = [dict(), dict(batch_first=True), dict(kdim=12, vdim=20), dict(add_bias_kv=True), dict(add_zero_attn=True),
             dict(bias=False), dict(kdim=12, vdim=20, add_bias_kv=True, add_zero_attn=True, batch_first=True)]


def _masks(batched=True, src=S):
    torch.manual_seed(2)
    kpm = torch.zeros(N, src, dtype=torch.bool) if batched else torch.zeros(src, dtype=torch.bool)
    kpm[..., -2:] = True
    am_float = torch.randn(L, src)
    am_bool = torch.rand(L, src) > 0.7
    am_bool[:, 0] = False  # no fully masked row (NaN in torch too)
    am3 = torch.randn(N * H if batched else H, L, src)
    return [dict(), dict(key_padding_mask=kpm), dict(key_padding_mask=kpm.float() * -5.0),
            dict(attn_mask=am_float), dict(attn_mask=am_bool), dict(attn_mask=am3),
            dict(attn_mask=am_bool, key_padding_mask=kpm), dict(attn_mask=am3, key_padding_mask=kpm)]


@pytest.mark.parametrize("kw", MODULE_KW, ids=lambda kw: ",".join(kw) or "default")
@pytest.mark.parametrize("batched", [True, False])
def test_attention_core_matches_torch(kw, batched):
    mha = _mha(**kw)
    f = _float_projections(Int8MultiheadAttention.from_float(mha), mha)
    q, k, v = _inputs(mha, batched)
    with torch.no_grad():
        for masks, (need, avg) in itertools.product(_masks(batched), [(True, True), (True, False), (False, True)]):
            a, wa = mha(q, k, v, need_weights=need, average_attn_weights=avg, **masks)
            b, wb = f(q, k, v, need_weights=need, average_attn_weights=avg, **masks)
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5, msg=lambda m: f"{list(masks)} need={need}: {m}")
            if need:
                torch.testing.assert_close(wb, wa, rtol=1e-5, atol=1e-6)
            else:
                assert wb is None and wa is None


def test_causal_hint_matches_torch():
    mha = _mha(batch_first=True)
    f = _float_projections(Int8MultiheadAttention.from_float(mha), mha)
    x, _, _ = _inputs(mha, cross=False)
    causal = nn.Transformer.generate_square_subsequent_mask(L)
    kpm = torch.zeros(N, L, dtype=torch.bool)
    kpm[0, -1] = True
    with torch.no_grad():
        for need, pad in itertools.product([False, True], [None, kpm]):
            a, _ = mha(x, x, x, attn_mask=causal, is_causal=True, need_weights=need, key_padding_mask=pad)
            b, _ = f(x, x, x, attn_mask=causal, is_causal=True, need_weights=need, key_padding_mask=pad)
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", MODULE_KW, ids=lambda kw: ",".join(kw) or "default")
def test_int8_close_to_float(kw):
    mha = _mha(**kw)
    q8 = Int8MultiheadAttention.from_float(mha)
    q, k, v = _inputs(mha)
    for masks in _masks()[:5]:
        with torch.no_grad():
            a, wa = mha(q, k, v, **masks)
            b, wb = q8(q, k, v, **masks)
        assert _cos(a, b) > 0.999, masks
        assert _cos(wa, wb) > 0.999, masks


def test_projections_are_int8_splits_of_in_proj():
    mha = _mha()
    q8 = Int8MultiheadAttention.from_float(mha)
    for i, proj in enumerate((q8.q_proj, q8.k_proj, q8.v_proj)):
        assert type(proj) is Int8Linear and not proj.static
        w = mha.in_proj_weight[i * E:(i + 1) * E]
        assert (proj.dequantized_weight() - w).abs().max() <= proj.weight_scale.max() / 2 + 1e-7
        torch.testing.assert_close(proj.bias, mha.in_proj_bias[i * E:(i + 1) * E].detach())
    assert type(q8.out_proj) is Int8Linear
    # The views torch's own code reads: shapes and values of the float layer's, no fp32 copy stored.
    assert q8.in_proj_weight.shape == (3 * E, E) and q8.in_proj_weight.dtype == torch.float32
    torch.testing.assert_close(q8.in_proj_weight + 0, torch.cat([p.dequantized_weight() for p in (q8.q_proj, q8.k_proj, q8.v_proj)]))
    torch.testing.assert_close(q8.in_proj_bias, mha.in_proj_bias.detach())
    assert q8.q_proj_weight is None
    assert not any(t.dtype == torch.float32 and t.numel() >= E * E for t in q8.state_dict().values())
    sep = Int8MultiheadAttention.from_float(_mha(kdim=12, vdim=20))
    assert sep.in_proj_weight is None and sep.k_proj_weight.shape == (E, 12) and sep.v_proj_weight.shape == (E, 20)


def test_masked_keys_do_not_reach_the_output():
    mha = _mha()
    q8 = Int8MultiheadAttention.from_float(mha)
    q, k, v = _inputs(mha)
    kpm = torch.zeros(N, S, dtype=torch.bool)
    kpm[:, 3:] = True
    k2, v2 = k.clone(), v.clone()
    k2[3:] += 100.0  # sequence-first: rows 3.. are the masked keys
    v2[3:] -= 50.0
    with torch.no_grad():
        a, wa = q8(q, k, v, key_padding_mask=kpm)
        # Per-row activation scales: the unmasked rows quantize as before, so the output is bit-equal.
        b, wb = q8(q, k2, v2, key_padding_mask=kpm)
    assert torch.equal(a, b)
    assert torch.equal(wa[..., 3:], torch.zeros_like(wa[..., 3:]))


def test_sequence_first_output_is_contiguous():
    # torch's output is contiguous; callers view it as (L * N, E).
    q8 = Int8MultiheadAttention.from_float(_mha())
    q, k, v = _inputs(q8)
    with torch.no_grad():
        out = q8(q, k, v)[0]
    assert out.shape == (L, N, E) and out.is_contiguous()
    assert out.view(L * N, E).shape == (L * N, E)


def test_half_input_keeps_its_dtype():
    mha = _mha(batch_first=True)
    q8 = Int8MultiheadAttention.from_float(mha)
    x, _, _ = _inputs(mha, cross=False)
    with torch.no_grad():
        y, w = q8(x.to(torch.bfloat16), x.to(torch.bfloat16), x.to(torch.bfloat16))
        ref, _ = mha(x, x, x)
    assert y.dtype == torch.bfloat16 and w.dtype == torch.bfloat16
    assert _cos(y.float(), ref) > 0.99


def test_copies_run_the_same():
    q8 = Int8MultiheadAttention.from_float(_mha())
    x, _, _ = _inputs(q8, cross=False)
    with torch.no_grad():
        y = q8(x, x, x)[0]
        for other in (copy.deepcopy(q8), pickle.loads(pickle.dumps(q8))):
            assert torch.equal(other(x, x, x)[0], y)


def test_bad_input_is_named():
    q8 = Int8MultiheadAttention.from_float(_mha(kdim=12, vdim=20))
    q = torch.randn(L, N, E)
    k, v = torch.randn(S, N, 12), torch.randn(S, N, 20)
    with torch.no_grad():
        with pytest.raises(TypeError, match="query"):
            q8([1.0], k, v)
        with pytest.raises(TypeError, match="key"):
            q8(q, k.to(torch.int64), v)
        with pytest.raises(ValueError, match="query: expected embedding size 32"):
            q8(torch.randn(L, N, E + 1), k, v)
        with pytest.raises(ValueError, match="query: expected a 2-D"):
            q8(torch.randn(1, L, N, E), k, v)
        with pytest.raises(ValueError, match="key: expected 3-D"):
            q8(q, k[:, 0], v)
        with pytest.raises(ValueError, match="kdim=12"):
            q8(q, torch.randn(S, N, 13), v)
        with pytest.raises(ValueError, match="key and value"):
            q8(q, k, v[:-1])
        with pytest.raises(ValueError, match="key: expected batch size 3"):
            q8(q, k[:, :2], v[:, :2])
        with pytest.raises(TypeError, match="key_padding_mask: expected a bool or floating-point tensor, got list"):
            q8(q, k, v, key_padding_mask=[[True] * S] * N)
        with pytest.raises(TypeError, match="attn_mask: expected a bool or floating-point tensor, got dtype torch.int64"):
            q8(q, k, v, attn_mask=torch.zeros(L, S, dtype=torch.int64), is_causal=True, need_weights=False)
        with pytest.raises(ValueError, match="attn_mask: expected shape"):
            q8(q, k, v, attn_mask=torch.zeros(L, S + 1))
        with pytest.raises(ValueError, match="attn_mask: expected a 2-D or 3-D"):
            q8(q, k, v, attn_mask=torch.zeros(1, 1, L, S))
        with pytest.raises(TypeError, match="attn_mask: expected a bool or floating-point"):
            q8(q, k, v, attn_mask=torch.zeros(L, S, dtype=torch.int32))
        with pytest.raises(ValueError, match="key_padding_mask: expected shape"):
            q8(q, k, v, key_padding_mask=torch.zeros(N, S + 2, dtype=torch.bool))
        with pytest.raises(ValueError, match="key_padding_mask: expected a 2-D"):
            q8(q, k, v, key_padding_mask=torch.zeros(S, dtype=torch.bool))
        with pytest.raises(RuntimeError, match="attn_mask: needed when is_causal"):
            q8(q, k, v, is_causal=True)
    with pytest.raises(RuntimeError, match="inference-only"):
        q8(q.requires_grad_(), k, v)
    unbatched = Int8MultiheadAttention.from_float(_mha())
    with torch.no_grad(), pytest.raises(ValueError, match=r"or \(7,\) for unbatched inputs, got \(8,\)"):
        x1 = torch.randn(S, E)
        unbatched(x1, x1, x1, key_padding_mask=torch.zeros(S + 1, dtype=torch.bool))
    with pytest.raises(TypeError, match="expects an nn.MultiheadAttention"):
        Int8MultiheadAttention.from_float(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="num_heads"):
        Int8MultiheadAttention(E, 5)
    with pytest.raises(ValueError, match="embed_dim"):
        Int8MultiheadAttention(0, 1)
    with pytest.raises(ValueError, match="dropout"):
        Int8MultiheadAttention(E, H, dropout=2.0)


def _encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, H, 64, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()


@pytest.mark.parametrize("config", ["int8_dynamic", "int8_static"])
def test_transformer_encoder_runs_its_int8_layers(config, tmp_path, monkeypatch):
    """torch's fused encoder fast path reads the layers' weights and, when they look like plain
    tensors, runs one fp32 op without calling the layers: the weight views must make it step aside."""
    x = torch.randn(2, 6, E)
    ref = _encoder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # int8_static: not traceable by fx, module by module
        q = nnslim.quantize(_encoder(), config, calibration_data=[torch.randn(2, 6, E) for _ in range(3)])
    assert all(type(layer.self_attn) is Int8MultiheadAttention for layer in q.layers)
    calls = []
    real = Int8Linear._forward_impl
    monkeypatch.setattr(Int8Linear, "_forward_impl", lambda self, t: calls.append(self) or real(self, t))
    kpm = torch.zeros(2, 6, dtype=torch.bool)
    kpm[1, -2:] = True
    with torch.no_grad():
        y = q(x, src_key_padding_mask=kpm)
        want = ref(x, src_key_padding_mask=kpm)
    assert len(calls) == 2 * 6  # per layer: q, k, v, out, linear1, linear2
    assert _cos(y, want) > 0.999
    path = os.path.join(tmp_path, "enc.nnslim")
    nnslim.save(q, path)
    r = nnslim.load(path, _encoder())
    with torch.no_grad():
        assert torch.equal(r(x, src_key_padding_mask=kpm), y)


class TinyViT(nn.Module):
    """Patch embedding, one pre-norm attention block, a head: traceable by torch.fx (the attention is a
    leaf module)."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, E, 4, stride=4)
        self.norm = nn.LayerNorm(E)
        self.attn = nn.MultiheadAttention(E, H, batch_first=True)
        self.head = nn.Linear(E, 10)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        h = self.norm(t)
        t = t + self.attn(h, h, h, need_weights=False)[0]
        return self.head(t.mean(1))


def test_graph_path_converts_attention(tmp_path):
    torch.manual_seed(0)
    model = TinyViT().eval()
    batches = [torch.randn(2, 3, 16, 16) for _ in range(4)]
    q = nnslim.quantize(copy.deepcopy(model), "int8_static", calibration_data=batches)
    assert isinstance(q, torch.fx.GraphModule)
    assert type(q.attn) is Int8MultiheadAttention
    rows = {r["node"]: r for r in q.meta["nnslim_report"]}
    assert rows["attn"]["runs"] == "int8" and "attention" in rows["attn"]["why"]
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        y, ref = q(x), model(x)
    assert _cos(y, ref) > 0.999
    path = os.path.join(tmp_path, "vit.nnslim")
    nnslim.save(q, path)
    torch.manual_seed(5)
    r = nnslim.load(path, TinyViT().eval())
    with torch.no_grad():
        assert torch.equal(r(x), y)


def test_load_refuses_a_model_without_the_attention(tmp_path):
    q = nnslim.quantize(_encoder(), "int8_dynamic")
    path = os.path.join(tmp_path, "enc.nnslim")
    nnslim.save(q, path)
    other = nn.Sequential()
    other.layers = nn.ModuleList([nn.Module(), nn.Module()])
    with pytest.raises(ValueError, match="does not match the model"):
        nnslim.load(path, other)
