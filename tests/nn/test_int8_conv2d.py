"""Int8Conv2d vs F.conv2d, and its exact agreement with an int8 reference built from the same parts."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim.nn import Int8Conv2d

CASES = [  # cin, cout, k, stride, padding, dilation, groups
    (3, 8, 3, 1, 1, 1, 1), (16, 32, 3, 2, 1, 1, 1), (8, 8, 1, 1, 0, 1, 1), (8, 16, 5, 1, 2, 2, 1),
    (8, 8, 3, 1, 1, 1, 8), (8, 12, 3, 1, 0, 1, 2), (4, 6, (3, 1), (2, 1), (1, 0), 1, 1), (64, 64, 1, 2, 0, 1, 1),
    # grouped convs on the direct grouped kernel: 4, 8 and 16 channels per group
    (16, 16, 3, 1, 1, 1, 4), (32, 32, 3, 2, 1, 1, 4), (16, 32, 3, 1, 1, 1, 2)]


def _int8_reference(conv, x, scale, zp):
    """Float emulation of the integer pipeline: exact integer math carried in float64."""
    q = torch.clamp(torch.round(torch.clamp(x * (1 / scale), -1000, 1000)) + zp, -128, 127)
    wq, ws = nnslim.nn._common.per_channel_symmetric_int8(conv.weight)
    acc = F.conv2d((q - zp).double(), wq.double(), None, conv.stride, conv.padding, conv.dilation, conv.groups)
    y = acc * (scale * ws.double()).reshape(1, -1, 1, 1)
    if conv.bias is not None:
        y = y + conv.bias.double().reshape(1, -1, 1, 1)
    return y.float()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("zp", [0, -128])
def test_matches_conv2d(isa, force_isa, case, zp):
    force_isa(isa)
    cin, cout, k, s, p, d, g = case
    torch.manual_seed(cin * cout)
    conv = nn.Conv2d(cin, cout, k, s, p, d, g, bias=(cin % 2 == 0))
    x = torch.randn(2, cin, 13, 11)
    if zp == -128:
        x = x.abs()
    scale = (x.abs().max() / 127 if zp == 0 else x.max() / 255).item()
    q = Int8Conv2d.from_float(conv, input_qparams=(scale, zp))
    with torch.no_grad():
        y, ref = q(x), conv(x)
        emul = _int8_reference(conv, x, scale, zp)
    assert y.shape == ref.shape
    assert ((y - ref).norm() / ref.norm()) < 0.03
    torch.testing.assert_close(y, emul, rtol=1e-4, atol=1e-4)


def test_relu_fused_and_channels_last_input():
    conv = nn.Conv2d(8, 16, 3, padding=1)
    x = torch.randn(1, 8, 9, 9)
    q = Int8Conv2d.from_float(conv, input_qparams=(x.abs().max().item() / 127, 0), relu=True)
    with torch.no_grad():
        y = q(x)
        y2 = q(x.contiguous(memory_format=torch.channels_last))
        ref = F.relu(conv(x))
    assert (y >= 0).all() and torch.equal(y, y2)
    assert ((y - ref).norm() / ref.norm()) < 0.03
    # Packed now: a channels_last or 1 x 1 input takes the direct fp32 path, with the same result.
    with torch.no_grad():
        assert torch.equal(q(x.contiguous(memory_format=torch.channels_last)), y)
        assert torch.equal(q(x), y)
        p = x[:, :, 4:5, 4:5].contiguous()
        assert torch.equal(q(p), q(p.contiguous(memory_format=torch.channels_last)))
        torch.testing.assert_close(q(p), F.relu(conv(p)), rtol=0.05, atol=0.05)
    with pytest.raises(RuntimeError, match="inference-only"):
        q(x.contiguous(memory_format=torch.channels_last).requires_grad_())


def test_nan_input_propagates_to_that_image_only():
    conv = nn.Conv2d(4, 4, 3, padding=1)
    q = Int8Conv2d.from_float(conv, input_qparams=(0.05, 0))
    x = torch.randn(2, 4, 6, 6)
    x[1, 2, 3, 3] = float("nan")
    with torch.no_grad():
        y = q(x)
    assert torch.isfinite(y[0]).all() and torch.isnan(y[1]).all()


def test_state_dict_round_trip():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1)
    q = Int8Conv2d.from_float(conv, input_qparams=(0.03, -3))
    q2 = Int8Conv2d(**q.init_kwargs())
    q2.load_state_dict(q.state_dict())
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(q(x), q2(x))


def test_bad_inputs():
    conv = nn.Conv2d(4, 6, 3)
    q = Int8Conv2d.from_float(conv, input_qparams=(0.03, 0))
    with torch.no_grad():
        with pytest.raises(ValueError, match="4-D"):
            q(torch.randn(4, 8, 8))
        with pytest.raises(ValueError, match="size 4 in dimension 1"):
            q(torch.randn(1, 3, 8, 8))
        with pytest.raises(ValueError, match="smaller than the dilated kernel"):
            q(torch.randn(1, 4, 2, 2))
        with pytest.raises(TypeError, match="floating-point"):
            q(torch.ones(1, 4, 8, 8, dtype=torch.int32))
    with pytest.raises(ValueError, match="input_qparams"):
        Int8Conv2d.from_float(conv)
    with pytest.raises(ValueError, match="zero_point"):
        Int8Conv2d.from_float(conv, input_qparams=(0.1, 300))
    with pytest.raises(ValueError, match="padding"):
        Int8Conv2d.from_float(nn.Conv2d(4, 4, 3, padding="same"), input_qparams=(0.1, 0))


@pytest.mark.parametrize("k,stride,pad", [(7, 2, 3), (3, 2, 1), (3, 1, 1)])
def test_rgb_stem_row_taps_equal_im2col(force_isa, k, stride, pad):
    """On AMX an RGB stem packs space-to-depth tap weights (stride 2) or row-tap ones (no im2col);
    it gives exactly the VNNI im2col path's int8 output, and reloads (repack) to the same."""
    import pickle

    from nnslim._native import C

    if "amx" not in C.cpu_info()["available"]:
        pytest.skip("row taps run on AMX only")
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 40, k, stride, pad)
    x = torch.randn(2, 3, 37, 45)
    outs = {}
    for isa in ("amx", "avx512_vnni"):
        force_isa(isa)
        m = Int8Conv2d.from_float(conv, input_qparams=(0.03, -2))
        m.set_output_qparams(0.05, 4)
        assert m._row_taps() == (isa == "amx")
        assert m._s2d_taps() == (isa == "amx" and stride == 2)
        outs[isa] = m(x)
        if isa == "amx":  # the packed K says which layout the kernel runs
            assert m.pack()[0].in_features == ((k + 1) // 2 if stride == 2 else k) * 64
        if isa == "amx":
            assert torch.equal(pickle.loads(pickle.dumps(m))(x), outs[isa])
    assert torch.equal(outs["amx"], outs["avx512_vnni"])


@pytest.mark.parametrize("cin,cout,groups,stride", [(16, 16, 4, 1), (64, 64, 8, 2), (24, 24, 3, 1), (32, 64, 4, 1)])
def test_grouped_direct_equals_the_per_group_gemm(cin, cout, groups, stride):
    """The direct grouped kernel and the per-group GEMM it replaced give the same bytes (int8 out) and
    the same floats (fp32 out): the same exact int32 sums, finished by the same float operations."""
    from nnslim._native import C
    torch.manual_seed(cin + groups)
    conv = nn.Conv2d(cin, cout, 3, stride, 1, groups=groups)
    q = Int8Conv2d.from_float(conv, input_qparams=(0.04, -3), relu=True)
    assert q.grouped_direct and "kernel=gconv-" in repr(q)
    w = q.weight_int8.permute(0, 2, 3, 1).reshape(cout, -1)
    cg = cout // groups
    per_group = [C.PackedQs8Weights(w[i * cg:(i + 1) * cg].contiguous().numpy()) for i in range(groups)]
    xq = torch.randint(-128, 128, (2, 11, 9, cin), dtype=torch.int8).numpy()
    for out_scale in (None, 0.07):
        gemm = C.Qs8Conv2dPlan(per_group, (3, 3), (stride, stride), (1, 1), (1, 1), groups, 0.04, -3,
                               q.weight_scale.numpy(), q._bias_folded.numpy(), True, "none", 0.0, 0.0, 1.0, 0,
                               out_scale, -128)
        if out_scale:
            q.set_output_qparams(out_scale, -128)
            q.pack()
        direct = q._packed_run(xq, None, 2)
        np.testing.assert_array_equal(direct, gemm(xq, None, 2))
