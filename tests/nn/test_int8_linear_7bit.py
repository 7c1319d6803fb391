"""Int8Linear(activation_bits=7) / Int8DynamicConfig(activation_bits=7): dynamic activations
quantized per row asymmetrically onto [0, 127] (kernels: tests/kernels/test_qs8_quant_q7.py). The
layer, the config, the attention drop-in and save / load carry the choice."""
import copy
import os

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim._native import C
from nnslim.nn import Int8Linear, Int8MultiheadAttention


def _cos(a, b):
    return float(F.cosine_similarity(a.flatten().double(), b.flatten().double(), 0))


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64)).eval()


def test_layer_matches_the_kernel_reference():
    torch.manual_seed(1)
    lin = nn.Linear(96, 40)
    q = Int8Linear.from_float(lin, nnslim.Int8DynamicConfig(activation_bits=7))
    assert q.activation_bits == 7 and "7-bit" in repr(q)
    x = torch.randn(3, 5, 96)
    codes, scales, _ = C.qs8_quantize_rows(x.reshape(-1, 96).numpy(), reference=True, activation_bits=7)
    acc = C.ref_qs8_gemm_s32(codes, q.weight_int8.numpy()).astype(np.float32)
    want = acc * (scales[:, None] * q.weight_scale.numpy()[None, :]) + q.bias.numpy()
    with torch.no_grad():
        got = q(x)
    assert got.shape == (3, 5, 40)
    np.testing.assert_array_equal(got.reshape(-1, 40).numpy(), want)


def test_accuracy_between_torch_ao_and_8_bits():
    m = _mlp()
    x = torch.randn(64, 64)
    q8 = nnslim.quantize(copy.deepcopy(m), "int8_dynamic")
    q7 = nnslim.quantize(copy.deepcopy(m), nnslim.Int8DynamicConfig(activation_bits=7))
    with torch.no_grad():
        ref, y8, y7 = m(x), q8(x), q7(x)
    assert _cos(y7, ref) > 0.9995
    assert (y7 - ref).abs().mean() > (y8 - ref).abs().mean()  # one bit fewer shows


def test_save_load_keeps_the_bits(tmp_path):
    m = _mlp()
    q = nnslim.quantize(copy.deepcopy(m), nnslim.Int8DynamicConfig(activation_bits=7))
    path = os.path.join(tmp_path, "m.nns")
    nnslim.save(q, path)
    r = nnslim.load(path, _mlp())
    assert r[0].activation_bits == 7 and r[2].activation_bits == 7
    x = torch.randn(7, 64)
    with torch.no_grad():
        assert torch.equal(r(x), q(x))


def test_attention_projections_follow_the_config(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential()
    model.attn = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    q = nnslim.quantize(copy.deepcopy(model), nnslim.Int8DynamicConfig(activation_bits=7))
    attn = q.attn
    assert type(attn) is Int8MultiheadAttention
    assert all(p.activation_bits == 7 for p in (attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj))
    x = torch.randn(2, 6, 32)
    with torch.no_grad():
        y = attn(x, x, x)[0]
        assert _cos(y, model.attn(x, x, x)[0]) > 0.999
    path = os.path.join(tmp_path, "a.nns")
    nnslim.save(q, path)
    fresh = nn.Sequential()
    fresh.attn = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    r = nnslim.load(path, fresh)
    assert r.attn.v_proj.activation_bits == 7
    with torch.no_grad():
        assert torch.equal(r.attn(x, x, x)[0], y)


def test_config_round_trip_and_validation():
    cfg = nnslim.Int8DynamicConfig(activation_bits=7)
    assert nnslim.QuantConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (6, 16, True, "7"):
        with pytest.raises(ValueError, match="activation_bits"):
            nnslim.Int8DynamicConfig(activation_bits=bad)
    with pytest.raises(ValueError, match="activation_bits"):
        Int8Linear(8, 4, activation_bits=4)
    with pytest.raises(ValueError, match="applies to dynamic activations"):
        Int8Linear(8, 4, static=True, activation_bits=7)
    # Static configs keep their own 7-bit form: their linears' codes come from calibration.
    q = Int8Linear.from_float(nn.Linear(8, 4), nnslim.Int8StaticConfig(activation_bits=7), input_qparams=(0.1, 0))
    assert q.static and q.activation_bits == 8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_refuses_7_bits():
    q = Int8Linear.from_float(nn.Linear(8, 4), nnslim.Int8DynamicConfig(activation_bits=7)).cuda()
    with torch.no_grad(), pytest.raises(NotImplementedError, match="activation_bits=7"):
        q(torch.randn(2, 8, device="cuda"))
