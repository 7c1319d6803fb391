"""Int8StaticConfig(activation_bits=7): every activation edge on the codes [0, 127] (torch.ao's x86
reduce_range), which the AVX2 GEMM multiplies without sign handling. Config checks, the qparams, the
output clamp at code 0 (exact), whole models on the fast path, save / reload."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim import models
from nnslim.nn import Int8Conv2d
from nnslim.quantization.config import QuantConfig
from nnslim.quantization.observers import MinMaxObserver, activation_qparams

CFG7 = nnslim.Int8StaticConfig(progress=False, activation_bits=7)
SIZE = 96
MODELS = {"resnet18": models.resnet18, "mobilenet_v2": models.mobilenet_v2,
          "mobilenet_v3_large": models.mobilenet_v3_large}


def _calib(n=8, batch=1):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(batch, 3, SIZE, SIZE, generator=g) for _ in range(n)]


@pytest.mark.parametrize("bad", [6, 16, 0, True, 7.5, "7"])
def test_activation_bits_rejects_other_values(bad):
    with pytest.raises(ValueError, match="activation_bits"):
        nnslim.Int8StaticConfig(activation_bits=bad)


def test_activation_bits_7_is_asymmetric_only():
    with pytest.raises(ValueError, match="symmetric"):
        nnslim.Int8StaticConfig(activation_bits=7, symmetric=True)


def test_activation_bits_round_trips_through_dict():
    d = CFG7.to_dict()
    assert d["activation_bits"] == 7
    assert QuantConfig.from_dict(d) == CFG7


@pytest.mark.parametrize("lo,hi", [(-3.0, 5.0), (0.0, 6.0), (-0.5, 0.0), (-1e-3, 40.0), (0.0, 0.0)])
def test_activation_qparams_7_bits_cover_the_same_range(lo, hi):
    obs = MinMaxObserver()
    obs.update(torch.tensor([lo, hi]))
    q8 = obs.qparams()
    assert activation_qparams(q8, 8) == q8
    scale, zp = activation_qparams(q8, 7)
    assert 0 <= zp <= 127
    lo8, hi8 = (-128 - q8[1]) * q8[0], (127 - q8[1]) * q8[0]
    # Codes 0 and 127 reach the 8-bit range's ends (to rounding of the zero point).
    assert (0 - zp) * scale <= lo8 + scale / 2 + 1e-12 and (127 - zp) * scale >= hi8 - scale / 2 - 1e-12
    if hi > lo:
        assert scale == pytest.approx(2 * q8[0] * 255 / 254, rel=1e-6)
    # A floor below the observed range widens it down to the floor: the floor's code is >= 0.
    s2, z2 = activation_qparams(q8, 7, floor=-0.375)
    assert round(-0.375 / s2) + z2 >= 0 and 0 <= z2 <= 127


def _conv(activation="none", residual=False, groups=1, qmin=-128, seed=0, zp=10, **act):
    torch.manual_seed(seed)
    c = 16
    conv = nn.Conv2d(c, c, 3, padding=1, groups=groups)
    conv.activation, conv.residual = activation, residual
    conv.act_lo, conv.act_hi = act.get("act_lo", 0.0), act.get("act_hi", 0.0)
    m = Int8Conv2d.from_float(conv, input_qparams=(0.05, 3))
    m.set_output_qparams(0.02, zp, qmin=qmin)
    if residual:
        m.set_residual_qparams(0.03, 70)
    return m


@pytest.mark.parametrize("activation,act", [("none", {}), ("clamp", {"act_lo": -0.3, "act_hi": 0.5}),
                                            ("relu", {}), ("hardswish", {}), ("hardsigmoid", {})])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("groups", [1, 16])
def test_output_qmin_clamps_codes_exactly(activation, act, residual, groups):
    # Clamping at code 0 must equal the 8-bit edge's codes clamped at 0, value for value, on every
    # kernel (GEMM and depthwise, fused activations, an int8 residual).
    # (Hardswish takes no clamp: its range must reach -0.375, at zero point 20 code 1.)
    zp = 20 if activation == "hardswish" else 10
    full, clamped = (_conv(activation, residual, groups, qmin, zp=zp, **act) for qmin in (-128, 0))
    g = torch.Generator().manual_seed(2)
    x = torch.randint(0, 128, (2, 9, 11, 16), generator=g, dtype=torch.int8)
    args = (x, torch.randint(-128, 128, (2, 9, 11, 16), generator=g, dtype=torch.int8)) if residual else (x,)
    with torch.no_grad():
        want, got = full(*args), clamped(*args)
    if activation in ("none", "clamp"):  # the others never reach below code 0 here
        assert (want < 0).any(), "the case must reach codes below 0"
    torch.testing.assert_close(got, want.clamp(min=0), rtol=0, atol=0)
    assert "codes=[0, 127]" in repr(clamped)


def test_output_qmin_rejects_bad_values():
    m = _conv()
    with pytest.raises(ValueError, match="output_qmin"):
        m.set_output_qparams(0.1, 0, qmin=5)
    with pytest.raises(ValueError, match="zero_point"):
        m.set_output_qparams(0.1, -3, qmin=0)
    h = _conv("hardswish")
    with pytest.raises(ValueError, match="Hardswish"):
        h.set_output_qparams(0.02, 10, qmin=0)  # -0.375 would be code -9
    h.set_output_qparams(0.02, 19, qmin=0)  # -0.375 is code 0.25 -> 0


@pytest.mark.parametrize("kernel,stride,cin", [(1, 1, 32), (1, 1, 64), (3, 2, 32), (3, 2, 3), (3, 1, 8),
                                               (3, 1, 32), (7, 2, 3)])
def test_input_qmin_picks_the_weight_layout_not_the_values(kernel, stride, cin):
    # input_qmin is a packing hint: 8-bit inputs (negative codes) pack AVX2's s16 layout at K >= 64,
    # except where Winograd runs on weights of its own (3x3 stride 1 over >= 16 channels). Outputs are
    # bit-equal whichever layout, for signed and 7-bit inputs alike.
    torch.manual_seed(kernel * 10 + stride + cin)
    conv = nn.Conv2d(cin, 40, kernel, stride, padding=kernel // 2)
    m8 = Int8Conv2d.from_float(conv, nnslim.Int8StaticConfig(progress=False), input_qparams=(0.05, 3))
    m7 = Int8Conv2d.from_float(conv, CFG7, input_qparams=(0.05, 3))
    assert (m8.input_qmin, m7.input_qmin) == (-128, 0)
    assert m8.init_kwargs()["input_qmin"] == -128 and m7.init_kwargs()["input_qmin"] == 0
    long_k = kernel * kernel * cin >= 64
    signed = long_k and not (kernel == 3 and stride == 1 and cin >= 16)
    assert m8._packs_signed("avx2") == signed and not m7._packs_signed("avx2")
    assert m8._packs_signed("avx512_vnni") == long_k  # no Winograd there
    if nnslim._native.C.selected_isa() == "avx2":
        assert [p.layout for p in m8.pack()] == [0 if signed else 1]
        assert [p.layout for p in m7.pack()] == [1]
    g = torch.Generator().manual_seed(3)
    for lo in (-128, 0):
        x = torch.randint(lo, 128, (2, 15, 13, cin), generator=g, dtype=torch.int8)
        with torch.no_grad():
            torch.testing.assert_close(m8(x), m7(x), rtol=0, atol=0)


@pytest.mark.parametrize("bad", [1, -129, -3.5, True, "0"])
def test_input_qmin_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="input_qmin"):
        Int8Conv2d(8, 8, 1, input_qmin=bad)


@pytest.fixture(scope="module", params=list(MODELS))
def quantized7(request):
    torch.manual_seed(0)
    m = models.randomize_batchnorm(MODELS[request.param](num_classes=100)).eval()
    return request.param, m, nnslim.quantize(m, CFG7, calibration_data=_calib())


def test_7_bit_models_accurate_and_on_nonnegative_codes(quantized7):
    name, m, q = quantized7
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    seen, outs = [], []
    hooks = []
    for mod in q.modules():
        if isinstance(mod, Int8Conv2d):
            hooks.append(mod.register_forward_pre_hook(
                lambda mm, a: seen.append(a[0]) if a[0].dtype == torch.int8 else None))
            if mod.int8_output:
                assert mod.output_qmin == 0 and 0 <= int(mod.output_zero_point) <= 127
                hooks.append(mod.register_forward_hook(lambda mm, a, out: outs.append(out)))
    with torch.no_grad():
        cos = F.cosine_similarity(m(x).flatten(1), q(x).flatten(1)).min().item()
        # Far outside the calibrated range, every conv's int8 output still holds codes >= 0 (clamped).
        q(4 * x)
    for h in hooks:
        h.remove()
    assert cos >= 0.999, f"{name}: cosine {cos}"
    assert seen and outs
    assert all(int(t.min()) >= 0 for t in seen[:len(seen) // 2]), f"{name}: a negative int8 input code"
    assert all(int(t.min()) >= 0 for t in outs), f"{name}: a conv output below code 0"


def test_7_bit_model_saves_and_reloads(quantized7, tmp_path):
    name, m, q = quantized7
    path = tmp_path / f"{name}7.nns"
    nnslim.save(q, path)
    torch.manual_seed(0)
    r = nnslim.load(path, MODELS[name](num_classes=100).eval())
    assert [(mod.output_qmin, mod.input_qmin) for mod in r.modules() if isinstance(mod, Int8Conv2d)] == \
        [(mod.output_qmin, mod.input_qmin) for mod in q.modules() if isinstance(mod, Int8Conv2d)]
    assert all(mod.input_qmin == 0 for mod in r.modules() if isinstance(mod, Int8Conv2d))
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(r(x), q(x), rtol=0, atol=0)


def test_7_bit_module_by_module():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3)).eval()
    cal = _calib(4)
    q = nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False, graph=False, activation_bits=7),
                        calibration_data=cal)
    convs = [mod for mod in q.modules() if isinstance(mod, Int8Conv2d)]
    assert len(convs) == 2 and all(0 <= int(c.input_zero_point) <= 127 for c in convs)
    with torch.no_grad():
        assert F.cosine_similarity(m(cal[0]).flatten(), q(cal[0]).flatten(), dim=0) > 0.999


def test_hardswish_floor_keeps_a_margin_above_the_half_way_point():
    # Widened down to -0.375, the floor must quantize to code >= 0 even after fp32's rounding of
    # 1 / scale: where the zero point's rounding left it within 1e-4 of -0.5, the range moves up a code
    # (else set_output_qparams would refuse the edge in the middle of quantize()).
    from nnslim.nn._common import FLOOR_MARGIN
    from nnslim.quantization.observers import qparams_from_range

    rng = np.random.default_rng(0)
    ranges = [(-0.2337260798143241, 8.284254441806672), (-0.038658241937902654, 13.245881060714863)] + \
        [(-rng.random() * 0.375, rng.random() * 40 + 1e-3) for _ in range(3000)]
    m = _conv("hardswish")
    for lo, hi in ranges:
        s, z = activation_qparams(qparams_from_range(lo, hi, False), 7, floor=-0.375)
        assert 0 <= z <= 127 and -0.375 / s + z >= -0.5 + FLOOR_MARGIN, (lo, hi, s, z)
        m.set_output_qparams(s, z, qmin=0)  # accepted


def test_graph_report_names_7_bit_edges_and_hints_on_avx2(quantized7, force_isa):
    name, m, q = quantized7
    force_isa("avx2")
    text7 = nnslim.graph_report(q)
    assert "(7-bit codes)" in text7 and "activation_bits=7" not in text7
    q8 = nnslim.quantize(m, nnslim.Int8StaticConfig(progress=False), calibration_data=_calib(2))
    text8 = nnslim.graph_report(q8)
    assert "(7-bit codes)" not in text8 and "activation_bits=7" in text8
    force_isa("scalar")
    assert "activation_bits=7" not in nnslim.graph_report(q8)
