"""qs8 depthwise conv: every ISA path equals the reference exactly (int32 accumulation, then the fp32
epilogue and post-ops in one fixed order), over odd channels, kernel sizes, strides, padding,
dilation and batch; bad arguments raise ValueError naming them."""
import numpy as np
import pytest

from nnslim._native import C

SHAPES = [  # N, H, W, C, k, stride, pad, dilation
    (1, 7, 9, 1, 3, 1, 1, 1), (1, 7, 9, 3, 3, 2, 0, 1), (2, 8, 8, 16, 3, 1, 1, 1), (1, 9, 7, 17, 3, 2, 1, 1),
    (1, 12, 12, 40, 5, 1, 2, 1), (2, 11, 13, 33, 5, 2, 2, 1), (1, 9, 9, 24, 3, 1, 2, 2), (1, 5, 5, 19, 5, 1, 0, 1),
    (1, 4, 4, 32, 1, 1, 0, 1), (1, 6, 6, 48, 3, 1, 4, 1), (3, 5, 6, 7, 3, 3, 1, 1), (1, 6, 5, 70, 3, 1, 1, 1),
    (2, 7, 7, 96, 5, 2, 2, 1),
    # channel tails of whole 4-byte groups (one masked load on AVX2): 4, 8 (MobileNetV3's 72), 12
    (1, 6, 7, 28, 3, 1, 1, 1), (1, 7, 7, 72, 5, 2, 2, 1), (2, 5, 6, 36, 3, 1, 0, 1),
    # no output column whose window lies inside the image; dilated and strided borders
    (1, 3, 2, 20, 5, 1, 2, 1), (1, 5, 9, 40, 3, 2, 1, 2), (1, 6, 11, 64, 3, 2, 3, 3),
]


def _case(seed, N, H, W, Cc, k):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, H, W, Cc)).astype(np.float32)
    w = rng.integers(-128, 128, (Cc, k, k), dtype=np.int8)
    ws = (rng.random(Cc) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(Cc).astype(np.float32)
    return x, w, ws, bias


def _expected(x, w, ws, bias, stride, pad, dil, scale, zp):
    # the reference quantizer: rne(x * (1 / scale)) + zero point, saturated
    q = np.clip(np.round(x * (np.float32(1) / np.float32(scale))) + zp, -128, 127).astype(np.int8)
    acc = C.ref_qs8_dwconv_s32(q, w, (stride, stride), (pad, pad), (dil, dil), zp)
    return acc.astype(np.float32) * (np.float32(scale) * ws) + bias


@pytest.mark.parametrize("N,H,W,Cc,k,stride,pad,dil", SHAPES)
@pytest.mark.parametrize("zp", [0, -7])
def test_dwconv_matches_reference(isa, N, H, W, Cc, k, stride, pad, dil, zp):
    x, w, ws, bias = _case(N * 131 + Cc * 7 + k, N, H, W, Cc, k)
    scale = 0.03
    want = _expected(x, w, ws, bias, stride, pad, dil, scale, zp)
    packed = C.PackedQs8DwWeights(w, isa)
    for threads in (1, 2):
        got = C.qs8_dwconv2d_static(x, packed, (stride, stride), (pad, pad), (dil, dil), scale, zp, ws, bias,
                                    num_threads=threads)
        np.testing.assert_array_equal(got, want)


def test_dwconv_reference_matches_naive_numpy():
    rng = np.random.default_rng(3)
    q = rng.integers(-128, 128, (2, 6, 7, 5), dtype=np.int8)
    w = rng.integers(-128, 128, (5, 3, 3), dtype=np.int8)
    zp = 4
    got = C.ref_qs8_dwconv_s32(q, w, (2, 1), (1, 2), (1, 1), zp)
    pad = np.full((2, 8, 11, 5), zp, np.int64)
    pad[:, 1:7, 2:9] = q
    oh, ow = (8 - 3) // 2 + 1, (11 - 3) // 1 + 1
    want = np.zeros((2, oh, ow, 5), np.int64)
    for i in range(oh):
        for j in range(ow):
            win = pad[:, 2 * i:2 * i + 3, j:j + 3]  # (N, 3, 3, C)
            want[:, i, j] = np.einsum("nhwc,chw->nc", win, w.astype(np.int64))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("act,lo,hi", [("relu", 0, 0), ("clamp", 0, 6), ("clamp", -1, 1), ("hardswish", 0, 0),
                                       ("hardsigmoid", 0, 0), ("none", 0, 0)])
@pytest.mark.parametrize("with_residual", [False, True])
def test_dwconv_postops(isa, act, lo, hi, with_residual):
    x, w, ws, bias = _case(11, 2, 9, 9, 21, 3)
    base = _expected(x, w, ws, bias, 1, 1, 1, 0.03, 0)
    res = np.random.default_rng(5).standard_normal(base.shape).astype(np.float32) * 3 if with_residual else None
    y = base + res if with_residual else base
    f32 = np.float32
    want = {"none": y, "relu": np.where(y < 0, f32(0), y), "clamp": np.where(y < lo, f32(lo), np.where(y > hi, f32(hi), y)),
            "hardswish": y * np.clip(y + f32(3), 0, 6).astype(np.float32) / f32(6),
            "hardsigmoid": np.clip(y + f32(3), 0, 6).astype(np.float32) / f32(6)}[act]
    got = C.qs8_dwconv2d_static(x, C.PackedQs8DwWeights(w, isa), (1, 1), (1, 1), (1, 1), 0.03, 0, ws, bias,
                                residual=res, activation=act, act_lo=lo, act_hi=hi, num_threads=2)
    np.testing.assert_array_equal(got, want.astype(np.float32))


def test_dwconv_nan_image_gives_nan_only_there(isa):
    x, w, ws, bias = _case(2, 2, 6, 6, 8, 3)
    x[1, 2, 3, 4] = np.nan
    got = C.qs8_dwconv2d_static(x, C.PackedQs8DwWeights(w, isa), (1, 1), (1, 1), (1, 1), 0.03, 0, ws, bias)
    assert np.isnan(got[1]).all() and np.isfinite(got[0]).all()


def test_dwconv_bad_arguments():
    x, w, ws, bias = _case(1, 1, 6, 6, 8, 3)
    pw = C.PackedQs8DwWeights(w)
    run = lambda **kw: C.qs8_dwconv2d_static(**{**dict(x_nhwc=x, weights=pw, stride=(1, 1), padding=(1, 1),  # noqa: E731
                                                       dilation=(1, 1), input_scale=0.1, input_zero_point=0,
                                                       weight_scale=ws, bias=bias), **kw})
    with pytest.raises(ValueError, match="x: expected 8 channels"):
        run(x_nhwc=np.zeros((1, 6, 6, 9), np.float32))
    with pytest.raises(ValueError, match="residual: expected the output's NHWC shape"):
        run(residual=np.zeros((1, 6, 6, 7), np.float32))
    with pytest.raises(ValueError, match="activation: expected"):
        run(activation="gelu")
    with pytest.raises(ValueError, match="lo <= hi"):
        run(activation="clamp", act_lo=1.0, act_hi=0.0)
    with pytest.raises(ValueError, match="weight_scale"):
        run(weight_scale=np.ones(7, np.float32))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        run(x_nhwc=np.zeros((1, 2, 2, 8), np.float32), padding=(0, 0))
    with pytest.raises(ValueError, match="input_scale"):
        run(input_scale=0.0)
    with pytest.raises(ValueError, match="C-contiguous"):
        run(x_nhwc=np.zeros((1, 6, 6, 16), np.float32)[..., ::2])
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        run(x_nhwc=x.astype(np.float64))
    with pytest.raises(ValueError, match="weight: expected a non-empty"):
        C.PackedQs8DwWeights(np.zeros((0, 3, 3), np.int8))
    with pytest.raises(ValueError, match="weight: expected 3 dimensions"):
        C.PackedQs8DwWeights(np.zeros((4, 3), np.int8))


@pytest.mark.parametrize("N,H,W,Cc,k,stride,pad,dil", SHAPES)
@pytest.mark.parametrize("act,lo,hi", [("none", 0, 0), ("clamp", 0, 6), ("hardswish", 0, 0), ("relu", 0, 0),
                                       ("hardsigmoid", 0, 0)])
@pytest.mark.parametrize("huge_bias", [False, True], ids=["bounded", "unbounded"])
def test_dwconv_int8_output_equals_the_reference_finish(isa, N, H, W, Cc, k, stride, pad, dil, act, lo, hi, huge_bias):
    """int8 in, int8 out (an int8 edge): the kernels that finish in registers (VNNI) give exactly the
    scalar path's bytes, which finishes the fp32 block with the reference requantizer; the border
    patches and the in-place interior of every output row agree, at 1 and 2 threads, with an int8
    residual and without."""
    rng = np.random.default_rng(N * 31 + Cc + k)
    xq = rng.integers(-128, 128, (N, H, W, Cc), dtype=np.int8)
    w = rng.integers(-128, 128, (Cc, k, k), dtype=np.int8)
    ws = (rng.random(Cc) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(Cc).astype(np.float32)
    if huge_bias:  # beyond the kernels' finite-value bound: the run takes the NaN / infinity-aware finish
        bias[Cc // 2] = 3e25
    oh, ow = (H + 2 * pad - dil * (k - 1) - 1) // stride + 1, (W + 2 * pad - dil * (k - 1) - 1) // stride + 1
    res = rng.integers(-128, 128, (N, oh, ow, Cc), dtype=np.int8)
    for residual in (None, res):
        kw = dict(residual=residual, activation=act, act_lo=lo, act_hi=hi, residual_scale=0.05,
                  residual_zero_point=3, output_scale=0.07, output_zero_point=-5)
        want = C.qs8_dwconv2d_static(xq, C.PackedQs8DwWeights(w, "scalar"), (stride, stride), (pad, pad), (dil, dil),
                                     0.02, -4, ws, bias, **kw)
        assert want.dtype == np.int8 and want.shape == (N, oh, ow, Cc)
        for threads in (1, 2):
            got = C.qs8_dwconv2d_static(xq, C.PackedQs8DwWeights(w, isa), (stride, stride), (pad, pad), (dil, dil),
                                        0.02, -4, ws, bias, num_threads=threads, **kw)
            np.testing.assert_array_equal(got, want)
