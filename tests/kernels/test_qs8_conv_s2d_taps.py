"""Space-to-depth taps: on AMX a stride-2 conv over few channels ((kw + 1) // 2 * 4 * C <= 64: the RGB
stems) runs as the stride-1 conv of kernel ceil(kh / 2) x ceil(kw / 2) over the 2x2 space-to-depth
image of its padded input (qs8_conv_s2d_taps in csrc/include/nnslim/gemm.h, the input from
qs8_space_to_depth_input, the weights from nnslim.nn.int8_conv2d.s2d_tap_weights). The result equals
the scalar im2col path bit for bit: fp32 and int8 outputs, fused residual and activations, odd and
even padded sizes, non-square kernels, batch, odd output channels, maps narrower than a tile."""
import numpy as np
import pytest
import torch

from nnslim._native import C
from nnslim.nn.int8_conv2d import s2d_tap_weights

SHAPES = [  # N, H, W, Cin, Cout, kh, kw, pad_h, pad_w
    (1, 32, 32, 3, 64, 7, 7, 3, 3), (2, 17, 23, 3, 32, 3, 3, 1, 1), (1, 9, 40, 1, 16, 5, 5, 2, 2),
    (1, 12, 12, 4, 33, 3, 3, 1, 1), (2, 10, 11, 3, 8, 4, 2, 0, 1), (1, 6, 5, 2, 70, 3, 5, 1, 2),
    (3, 3, 4, 3, 16, 3, 3, 1, 1), (1, 15, 16, 8, 24, 2, 3, 0, 0),
]


def _conv(pk, x, ws, b, kh, kw, ph, pw, **kw_):
    return C.qs8_conv2d_static(x, [pk], (kh, kw), (2, 2), (ph, pw), (1, 1), 1, 0.03, -3, ws, b,
                               kw_.pop("relu", False), 2, **kw_)


def _bits(a):
    return a.view(np.int32) if a.dtype == np.float32 else a


@pytest.mark.parametrize("N,H,W,Cin,Cout,kh,kw,ph,pw", SHAPES)
def test_s2d_taps_match_scalar_im2col(N, H, W, Cin, Cout, kh, kw, ph, pw):
    if "amx" not in C.cpu_info()["available"]:
        pytest.skip("s2d taps run on AMX only (other ISAs reject s2d-tap weights: see the next test)")
    rng = np.random.default_rng(H * W + Cout + Cin + kh)
    x = rng.integers(-128, 128, (N, H, W, Cin), dtype=np.int8)
    w = rng.integers(-128, 128, (Cout, Cin, kh, kw), dtype=np.int8)  # torch's (out, in, kh, kw)
    ws = (rng.random(Cout) * 0.01 + 1e-3).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32)
    ref = C.PackedQs8Weights(np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(Cout, -1)), "scalar")
    taps = C.PackedQs8Weights(s2d_tap_weights(torch.from_numpy(w)).numpy(), "amx")
    y = _conv(ref, x, ws, b, kh, kw, ph, pw, relu=True)
    res = rng.integers(-128, 128, y.shape, dtype=np.int8)
    for kw_ in [dict(relu=True), dict(relu=True, output_scale=0.05, output_zero_point=3),
                dict(residual=res, residual_scale=0.02, residual_zero_point=1, activation="hardswish", output_scale=0.07),
                dict(residual=res.astype(np.float32) * 0.1, activation="clamp", act_lo=0.0, act_hi=6.0)]:
        want = _conv(ref, x, ws, b, kh, kw, ph, pw, **dict(kw_))
        got = _conv(taps, x, ws, b, kh, kw, ph, pw, **dict(kw_))
        assert np.array_equal(_bits(got), _bits(want)), kw_


def test_s2d_tap_weights_only_where_they_apply():
    """A ceil(kernel_h / 2) * 64 K is accepted only for stride-2, undilated, few-channel convs on AMX."""
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 16, 16, 3), dtype=np.int8)
    w = rng.integers(-128, 128, (8, 4 * 64), dtype=np.int8)  # a 7x7 stem's s2d K
    ws, b = np.full(8, 0.01, np.float32), np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="space-to-depth"):
        _conv(C.PackedQs8Weights(w, "scalar"), x, ws, b, 7, 7, 3, 3)
    if "amx" in C.cpu_info()["available"]:
        with pytest.raises(ValueError, match="in_features"):  # stride 1: no s2d layout
            C.qs8_conv2d_static(x, [C.PackedQs8Weights(w, "amx")], (7, 7), (1, 1), (3, 3), (1, 1), 1, 0.03, 0, ws, b,
                                False, 1)
    with pytest.raises(ValueError, match="in_channels"):
        s2d_tap_weights(torch.zeros(8, 9, 3, 3, dtype=torch.int8))  # 2 * 4 * 9 = 72 bytes > 64
