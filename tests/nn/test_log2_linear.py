"""Log2Linear (power-of-two weights) as a drop-in for nn.Linear, and its code table."""
import io

import numpy as np
import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim._native import C
from nnslim.nn import Int4Linear, Log2Linear
from nnslim.nn._q4 import LOG2_TABLE, quantize_log2, unpack_nibbles
from nnslim.quantization import Log2WeightConfig, QuantConfig


def _rel_err(y, ref):
    return ((y - ref).norm() / ref.norm()).item()


def test_code_table():
    # code = sign << 3 | e: +2^-e * 64 for e < 7, 0 for e = 7, then the negatives.
    assert LOG2_TABLE.tolist() == [64, 32, 16, 8, 4, 2, 1, 0, -64, -32, -16, -8, -4, -2, -1, 0]


def test_rounding_is_in_the_log_domain():
    w = torch.tensor([[1.0, 0.75, 0.70, -0.36, 0.35, 0.012, 0.0104, 0.0, -1e-9, -0.5]])
    codes, scale = quantize_log2(w)
    assert scale.tolist() == [1.0]
    c = unpack_nibbles(codes, w.shape[1])[0].tolist()
    # 0.75 < 2^-0.5 -> 1; 0.70 < 2^-0.5 = 0.7071 -> 0.5; 0.36 > 2^-1.5 = 0.3536 -> 0.5; 0.35 -> 0.25;
    # 0.012 > 2^-6.5 = 0.01105 -> 2^-6; 0.0104 -> zero; exact and tiny values -> zero.
    assert c == [0, 0, 1, 8 | 1, 2, 6, 7, 7, 7, 8 | 1]
    deq = Log2Linear.from_float(_linear_with(w)).dequantized_weight()
    assert deq[0].tolist() == [1.0, 1.0, 0.5, -0.5, 0.25, 2.0 ** -6, 0.0, 0.0, 0.0, -0.5]


def _linear_with(w, bias=True):
    lin = nn.Linear(w.shape[1], w.shape[0], bias=bias)
    with torch.no_grad():
        lin.weight.copy_(w)
    return lin


def test_dequantized_values_are_scaled_powers_of_two():
    torch.manual_seed(0)
    lin = nn.Linear(300, 20)
    q = Log2Linear.from_float(lin)
    ratio = (q.dequantized_weight() / q.weight_scale[:, None]).abs()
    allowed = torch.tensor([0.0] + [2.0 ** -e for e in range(7)])
    assert torch.isin(ratio, allowed).all()
    assert torch.equal(q.weight_scale, lin.weight.detach().abs().amax(1))
    assert 0.12 < _rel_err(q.dequantized_weight(), lin.weight) < 0.25


@pytest.mark.parametrize("shape", [(4, 200), (2, 3, 200), (1, 200)])
def test_matches_linear_any_leading_shape(isa, force_isa, shape):
    force_isa(isa)
    lin = nn.Linear(200, 40)
    q = Log2Linear.from_float(lin)
    assert "kernel=" + ("avx512_vnni" if isa == "amx" else isa) in repr(q)
    x = torch.randn(*shape)
    with torch.no_grad():
        y, ref = q(x), lin(x)
        y_deq = nn.functional.linear(x, q.dequantized_weight(), q.bias)
    assert y.shape == ref.shape and y.dtype == torch.float32
    assert _rel_err(y, y_deq) < 0.02  # what the int8 activations add to the weight error
    assert _rel_err(y, ref) < 0.3


def test_output_is_the_kernel_reference_and_paths_agree(force_isa):
    lin = nn.Linear(5000, 24)  # K > 4096: two kernel groups of 2528
    x = torch.randn(3, 5000)
    outs = []
    for isa in nnslim.cpu_info()["available"]:
        force_isa(isa)
        q = Log2Linear.from_float(lin)
        with torch.no_grad():
            outs.append(q(x))
    assert q.kernel_group_size() == 2528
    want = C.ref_q4_linear(x.numpy(), q.weight_packed.numpy(), q.kernel_scales().numpy(), 2528, LOG2_TABLE,
                           q.bias.numpy())
    for o in outs:
        np.testing.assert_array_equal(o.numpy(), want)


def test_int4_is_more_accurate_than_log2_on_normal_weights():
    torch.manual_seed(0)
    lin = nn.Linear(512, 256)
    with torch.no_grad():
        lin.weight.normal_()
    e_log2 = _rel_err(Log2Linear.from_float(lin).dequantized_weight(), lin.weight)
    e_int4 = _rel_err(Int4Linear.from_float(lin).dequantized_weight(), lin.weight)
    assert e_int4 < e_log2 < 0.25


def test_state_dict_round_trip_and_save_load(tmp_path):
    lin = nn.Linear(65, 16)
    q = Log2Linear.from_float(lin)
    sd = q.state_dict()
    assert set(sd) == {"weight_packed", "weight_scale", "bias"}
    assert sd["weight_packed"].shape == (16, 33) and sd["weight_scale"].shape == (16,)
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    q2 = Log2Linear(65, 16)
    x = torch.randn(4, 65)
    with torch.no_grad():
        q2(x)
        q2.load_state_dict(torch.load(buf))
        assert torch.equal(q(x), q2(x))
    model = nnslim.quantize(nn.Sequential(nn.Linear(65, 16), nn.Tanh(), nn.Linear(16, 4)), "log2_weight")
    nnslim.save(model, tmp_path / "m.nnslim")
    fresh = nnslim.load(tmp_path / "m.nnslim", nn.Sequential(nn.Linear(65, 16), nn.Tanh(), nn.Linear(16, 4)))
    assert isinstance(fresh[2], Log2Linear)
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))


def test_errors_and_config():
    q = Log2Linear.from_float(nn.Linear(32, 8, bias=False))
    assert "bias=False" in repr(q) and "exponent" in repr(q)
    with torch.no_grad():
        with pytest.raises(ValueError, match="size 32"):
            q(torch.randn(2, 31))
        with pytest.raises(TypeError, match="floating-point"):
            q(torch.ones(2, 32, dtype=torch.int32))
        assert q(torch.randn(2, 32, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(RuntimeError, match="inference-only"):
        q(torch.randn(2, 32, requires_grad=True))
    with pytest.raises(ValueError, match="bits"):
        Log2WeightConfig(bits=3)
    with pytest.raises(TypeError, match="Log2WeightConfig"):
        Log2Linear.from_float(nn.Linear(4, 4), nnslim.Int8DynamicConfig())
    cfg = Log2WeightConfig()
    assert QuantConfig.from_dict(cfg.to_dict()) == cfg
    zero = nn.Linear(8, 2)
    with torch.no_grad():
        zero.weight.zero_()
    x = torch.randn(3, 8)
    with torch.no_grad():
        torch.testing.assert_close(Log2Linear.from_float(zero)(x), zero(x))
