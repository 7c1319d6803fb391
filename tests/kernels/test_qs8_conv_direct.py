"""Direct (im2col-free) int8 convolution: on AMX machines k x k stride-1 convs with 64-channel
multiples read their taps straight from a zero-point-padded input, an image's output rows running
on through the padded width as one sequence of tile rows (strided ones: maps >= 12 wide, one row per
task) (csrc/dispatch/qs8-conv2d.cc, nnslim_qs8_conv_direct_row__amx). Every path equals the scalar
one bit for bit: fp32 and int8 outputs, fused residual (fp32 / int8) and activations, batch (tiles
that run into the next image), dilation, odd output channels, partial 32-row tiles, maps down to
1x1, weights split by columns, a NaN image."""
import numpy as np
import pytest

from nnslim._native import C

SHAPES = [  # N, H, W, Cin, Cout, k, stride_h, pad, dilation
    (1, 20, 18, 64, 64, 3, 1, 1, 1), (2, 13, 29, 128, 40, 3, 1, 1, 1), (1, 16, 16, 64, 96, 5, 1, 2, 1),
    (1, 14, 14, 256, 33, 3, 1, 1, 1), (1, 24, 24, 64, 17, 3, 1, 2, 2), (1, 15, 40, 64, 64, 3, 2, 1, 1),
    (1, 12, 12, 192, 50, 1, 1, 1, 1), (3, 7, 7, 64, 40, 3, 1, 1, 1), (2, 1, 1, 64, 33, 3, 1, 1, 1),
    (2, 4, 5, 128, 64, 3, 1, 1, 1), (1, 9, 9, 64, 64, 5, 1, 4, 2),
    (2, 7, 7, 512, 260, 3, 1, 1, 1),  # weights over 1 MB: each thread takes its own columns
]


def _conv(isa, x, w, ws, b, k, sh, p, d, relu=False, **kw):
    pk = [C.PackedQs8Weights(w, isa)]
    return C.qs8_conv2d_static(x, pk, (k, k), (sh, 1), (p, p), (d, d), 1, 0.03, -3, ws, b, relu, 2, **kw)


def _bits(a):
    return a.view(np.int32) if a.dtype == np.float32 else a


@pytest.mark.parametrize("N,H,W,Cin,Cout,k,sh,p,d", SHAPES)
def test_direct_conv_matches_scalar(isa, N, H, W, Cin, Cout, k, sh, p, d):
    rng = np.random.default_rng(H * W + Cout)
    x = rng.integers(-128, 128, (N, H, W, Cin), dtype=np.int8)
    w = rng.integers(-128, 128, (Cout, k * k * Cin), dtype=np.int8)
    ws = (rng.random(Cout) * 0.01 + 1e-3).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32)
    y = _conv("scalar", x, w, ws, b, k, sh, p, d, relu=True)
    res = rng.integers(-128, 128, y.shape, dtype=np.int8)
    variants = [
        dict(relu=True),
        dict(relu=True, output_scale=0.05, output_zero_point=3),
        dict(residual=res, residual_scale=0.02, residual_zero_point=1, activation="hardswish", output_scale=0.07),
        dict(residual=res.astype(np.float32) * 0.1, activation="clamp", act_lo=0.0, act_hi=6.0),
        dict(relu=True, residual=res.astype(np.float32) * 0.1),
    ]
    for kw in variants:
        want = _conv("scalar", x, w, ws, b, k, sh, p, d, **kw)
        got = _conv(isa, x, w, ws, b, k, sh, p, d, **kw)
        assert np.array_equal(_bits(got), _bits(want)), kw


def test_direct_conv_nan_image(isa):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 16, 64)).astype(np.float32)
    x[1, 3, 4, 5] = np.nan
    w = rng.integers(-128, 128, (64, 9 * 64), dtype=np.int8)
    ws = (rng.random(64) * 0.01 + 1e-3).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    y = _conv(isa, x, w, ws, b, 3, 1, 1, 1)
    assert np.isnan(y[1]).all() and np.isfinite(y[0]).all()
    assert np.array_equal(_bits(y), _bits(_conv("scalar", x, w, ws, b, 3, 1, 1, 1)))


@pytest.mark.parametrize("bias_scale,ws_scale", [(1.0, 1.0), (1e25, 1.0), (1.0, 1e22), (np.inf, 1.0)])
def test_int8_output_epilogue_finite_shortcut_and_its_fallback(isa, bias_scale, ws_scale):
    """The SIMD epilogues skip NaN / infinity handling only when bounded scales and biases make every
    value finite; huge or infinite biases and scales take the full path: bytes equal scalar's either way."""
    rng = np.random.default_rng(11)
    for cin, k, p in ((64, 3, 1), (24, 1, 0)):  # the direct / AMX path and a short-K (VNNI) GEMM
        x = rng.integers(-128, 128, (1, 14, 14, cin), dtype=np.int8)
        w = rng.integers(-128, 128, (40, k * k * cin), dtype=np.int8)
        ws = ((rng.random(40) * 0.01 + 1e-3) * ws_scale).astype(np.float32)
        b = (rng.standard_normal(40) * bias_scale).astype(np.float32)
        b[::7] = 0.5
        res = rng.integers(-128, 128, (1, 14, 14, 40), dtype=np.int8)
        for kw in (dict(relu=True, output_scale=0.05, output_zero_point=3),
                   dict(residual=res, residual_scale=0.02, activation="clamp", act_lo=0.0, act_hi=6.0,
                        output_scale=0.07)):
            want = _conv("scalar", x, w, ws, b, k, 1, p, 1, **kw)
            got = _conv(isa, x, w, ws, b, k, 1, p, 1, **kw)
            assert np.array_equal(got, want), (cin, kw)


@pytest.mark.parametrize("cin,cout", [(512, 512), (256, 520)])
def test_large_weight_im2col_conv_split_by_columns(isa, cin, cout):
    """Weights over 1 MB at several row blocks (batch 8 at 7x7: ResNet's last stage) give each thread
    its own output columns for every row block: results equal the scalar path bit for bit."""
    rng = np.random.default_rng(cin + cout)
    x = rng.integers(-128, 128, (8, 7, 7, cin), dtype=np.int8)
    w = rng.integers(-128, 128, (cout, 9 * cin), dtype=np.int8)
    ws = (rng.random(cout) * 0.01 + 1e-3).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    for kw in (dict(relu=True), dict(relu=True, output_scale=0.05, output_zero_point=2)):
        want = _conv("scalar", x, w, ws, b, 3, 1, 1, 1, **kw)
        got = _conv(isa, x, w, ws, b, 3, 1, 1, 1, **kw)
        assert np.array_equal(_bits(got), _bits(want)), kw
