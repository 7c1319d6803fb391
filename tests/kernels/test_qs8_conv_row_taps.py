"""Row-tap int8 convolution: on AMX, convs over few channels (kw * C < 64: the RGB stems) pack their
weights as kh blocks of 64 (tap row kh's kw * C weights, then zeros) and read every block straight
from the zero-point-padded input: no im2col (qs8_conv_row_taps in csrc/include/nnslim/gemm.h). The
result equals the scalar im2col path bit for bit: fp32 and int8 outputs, fused residual and
activations, strides, padding, H dilation, batch, odd output channels, rows shorter than a tile."""
import numpy as np
import pytest

from nnslim._native import C

SHAPES = [  # N, H, W, Cin, Cout, k, stride, pad, dilation_h
    (1, 32, 32, 3, 64, 7, 2, 3, 1), (2, 17, 23, 3, 32, 3, 2, 1, 1), (1, 9, 40, 1, 16, 5, 1, 2, 1),
    (1, 12, 12, 4, 33, 3, 1, 1, 1), (1, 10, 11, 21, 8, 3, 1, 0, 1), (1, 14, 14, 3, 24, 3, 1, 2, 2),
    (1, 6, 5, 7, 70, 3, 3, 1, 1), (2, 8, 30, 3, 48, 7, 1, 3, 1),
]


def _row_tap_weights(w, k, cin):
    cout = w.shape[0]
    out = np.zeros((cout, k, 64), np.int8)
    out[:, :, :k * cin] = w.reshape(cout, k, k * cin)
    return out.reshape(cout, k * 64)


def _conv(pk, x, ws, b, k, s, p, d, **kw):
    return C.qs8_conv2d_static(x, [pk], (k, k), (s, s), (p, p), (d, 1), 1, 0.03, -3, ws, b, kw.pop("relu", False),
                               2, **kw)


def _bits(a):
    return a.view(np.int32) if a.dtype == np.float32 else a


@pytest.mark.parametrize("N,H,W,Cin,Cout,k,s,p,d", SHAPES)
def test_row_taps_match_scalar_im2col(N, H, W, Cin, Cout, k, s, p, d):
    if "amx" not in C.cpu_info()["available"]:
        pytest.skip("row taps run on AMX only (other ISAs reject row-tap weights: see the next test)")
    rng = np.random.default_rng(H * W + Cout + Cin)
    x = rng.integers(-128, 128, (N, H, W, Cin), dtype=np.int8)
    w = rng.integers(-128, 128, (Cout, k * k * Cin), dtype=np.int8)  # (kh, kw, c) order
    ws = (rng.random(Cout) * 0.01 + 1e-3).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32)
    ref = C.PackedQs8Weights(w, "scalar")
    taps = C.PackedQs8Weights(_row_tap_weights(w, k, Cin), "amx")
    y = _conv(ref, x, ws, b, k, s, p, d, relu=True)
    res = rng.integers(-128, 128, y.shape, dtype=np.int8)
    for kw in [dict(relu=True), dict(relu=True, output_scale=0.05, output_zero_point=3),
               dict(residual=res, residual_scale=0.02, residual_zero_point=1, activation="hardswish", output_scale=0.07),
               dict(residual=res.astype(np.float32) * 0.1, activation="clamp", act_lo=0.0, act_hi=6.0)]:
        want = _conv(ref, x, ws, b, k, s, p, d, **dict(kw))
        got = _conv(taps, x, ws, b, k, s, p, d, **dict(kw))
        assert np.array_equal(_bits(got), _bits(want)), kw


def test_row_tap_weights_only_where_they_apply():
    """A kernel_h * 64 K is accepted only for few-channel, W-undilated, one-group convs on AMX."""
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 8, 8, 3), dtype=np.int8)
    w = rng.integers(-128, 128, (8, 3 * 64), dtype=np.int8)
    ws, b = np.full(8, 0.01, np.float32), np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="kernel_h \\* 64"):
        _conv(C.PackedQs8Weights(w, "scalar"), x, ws, b, 3, 1, 1, 1)
    if "amx" in C.cpu_info()["available"]:
        with pytest.raises(ValueError, match="in_features"):  # W dilation breaks the contiguous tap row
            C.qs8_conv2d_static(x, [C.PackedQs8Weights(w, "amx")], (3, 3), (1, 1), (2, 2), (1, 2), 1, 0.03, 0, ws, b,
                                False, 1)
