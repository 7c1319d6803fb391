"""qs8 grouped conv (1 < groups < channels): every ISA path equals the reference exactly (int32
accumulation, then the fp32 epilogue and post-ops in one fixed order), over each group geometry the
kernels take (2, 4, 8, 16, 32 and 24 output channels per group; the lane-ordered and broadcast
AVX2 paths), odd group counts, kernel sizes, strides, padding, dilation and batch; int8 output
equals the scalar path's bytes; bad arguments raise ValueError naming them."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnslim._native import C

SHAPES = [  # N, H, W, C, Cout, groups, k, stride, pad, dilation
    (1, 7, 9, 16, 16, 4, 3, 1, 1, 1),      # 4 per group (ResNeXt 32x4d's first stage)
    (2, 8, 8, 128, 128, 32, 3, 2, 1, 1),   # ... strided, batch 2
    (1, 6, 7, 12, 12, 3, 3, 1, 1, 1),      # 4 per group, groups not a multiple of 4 (a padded super-block)
    (1, 7, 7, 8, 16, 4, 3, 1, 1, 1),       # 2 in, 4 out per group
    (1, 7, 7, 64, 32, 16, 3, 1, 1, 1),     # 4 in, 2 out per group
    (1, 7, 7, 16, 16, 8, 3, 1, 1, 1),      # 2 per group
    (1, 9, 7, 10, 10, 5, 3, 2, 1, 1),      # 2 per group, Cout not a multiple of 8
    (1, 7, 9, 32, 16, 4, 3, 1, 1, 1),      # 8 in, 4 out per group
    (1, 7, 9, 64, 64, 8, 3, 1, 1, 1),      # 8 per group (RegNetX's group width 8)
    (1, 6, 6, 152, 152, 19, 3, 2, 1, 1),   # ... 19 groups (RegNetX-200MF)
    (1, 5, 5, 24, 24, 3, 5, 1, 2, 1),      # ... 5x5
    (2, 9, 9, 64, 64, 4, 3, 1, 1, 1),      # 16 per group
    (1, 7, 7, 128, 128, 4, 3, 1, 1, 1),    # 32 per group
    (1, 8, 8, 48, 48, 2, 3, 1, 1, 1),      # 24 per group (a runtime pair count)
    (1, 9, 9, 32, 64, 4, 3, 1, 2, 2),      # 8 in, 16 out per group, dilated
    (1, 6, 6, 32, 32, 8, 1, 1, 0, 1),      # 1x1
    (1, 3, 2, 16, 16, 4, 5, 1, 2, 1),      # no output column whose window lies inside the image
    (1, 6, 11, 64, 64, 16, 3, 2, 3, 3),    # dilated and strided borders
    (3, 5, 6, 24, 48, 6, 3, 3, 1, 1),      # 4 in, 8 out per group, stride 3
    # few output rows with enough work for 2 threads: each row's groups split between tasks
    (1, 7, 7, 256, 256, 32, 3, 1, 1, 1),   # 8 per group, 32 splits of one group
    (1, 6, 6, 512, 512, 128, 3, 1, 1, 1),  # 4 per group, splits of whole 16-channel super-blocks
    (1, 7, 7, 304, 304, 38, 3, 1, 1, 1),   # 8 per group, 19 super-blocks
]


def _case(seed, N, H, W, Cc, Co, g, k):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, H, W, Cc)).astype(np.float32)
    w = rng.integers(-128, 128, (Co, Cc // g, k, k), dtype=np.int8)
    ws = (rng.random(Co) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(Co).astype(np.float32)
    return x, w, ws, bias


def _quantize(x, scale, zp):  # the reference quantizer: rne(x * (1 / scale)) + zero point, saturated
    return np.clip(np.round(x * (np.float32(1) / np.float32(scale))) + zp, -128, 127).astype(np.int8)


def _expected(x, w, ws, bias, stride, pad, dil, groups, scale, zp):
    acc = C.ref_qs8_conv_s32(_quantize(x, scale, zp), w, (stride, stride), (pad, pad), (dil, dil), groups, zp)
    return acc.astype(np.float32) * (np.float32(scale) * ws) + bias


def test_every_shape_takes_the_grouped_kernel():
    for N, H, W, Cc, Co, g, *_ in SHAPES:
        assert C.qs8_gconv_supported(Cc, Co, g), (Cc, Co, g)


@pytest.mark.parametrize("Cc,Co,g,ok", [(16, 16, 4, True), (64, 64, 8, True), (48, 48, 2, True),
                                        (12, 12, 4, False),   # 3 input channels per group: odd
                                        (16, 16, 16, False),  # depthwise: its own kernel
                                        (16, 16, 1, False),   # one group: the GEMM
                                        (24, 12, 4, False),   # 6 in, 3 out per group
                                        (32, 8, 4, False),    # 8 in, 2 out: cg > 2 * coutg
                                        (24, 48, 4, False),   # 12 out per group
                                        (15, 15, 4, False)])  # groups do not divide the channels
def test_supported_geometries(Cc, Co, g, ok):
    assert C.qs8_gconv_supported(Cc, Co, g) is ok


def test_reference_matches_naive_numpy():
    rng = np.random.default_rng(3)
    q = rng.integers(-128, 128, (2, 6, 7, 8), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 4, 3, 3), dtype=np.int8)  # 2 groups: 4 in, 3 out each
    zp = 4
    got = C.ref_qs8_conv_s32(q, w, (2, 1), (1, 2), (1, 1), 2, zp)
    pad = np.full((2, 8, 11, 8), zp, np.int64)
    pad[:, 1:7, 2:9] = q
    oh, ow = (8 - 3) // 2 + 1, (11 - 3) // 1 + 1
    want = np.zeros((2, oh, ow, 6), np.int64)
    for i in range(oh):
        for j in range(ow):
            win = pad[:, 2 * i:2 * i + 3, j:j + 3]  # (N, 3, 3, 8)
            for o in range(6):
                g = o // 3
                want[:, i, j, o] = np.einsum("nhwc,chw->n", win[..., 4 * g:4 * g + 4], w[o].astype(np.int64))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("N,H,W,Cc,Co,g,k,stride,pad,dil", SHAPES)
@pytest.mark.parametrize("zp", [0, -7])
def test_gconv_matches_reference(isa, N, H, W, Cc, Co, g, k, stride, pad, dil, zp):
    x, w, ws, bias = _case(N * 131 + Cc * 7 + Co + k, N, H, W, Cc, Co, g, k)
    want = _expected(x, w, ws, bias, stride, pad, dil, g, 0.03, zp)
    packed = C.PackedQs8GroupedWeights(w, g, isa)
    for threads in (1, 2):
        got = C.qs8_gconv2d_static(x, packed, (stride, stride), (pad, pad), (dil, dil), 0.03, zp, ws, bias,
                                   num_threads=threads)
        np.testing.assert_array_equal(got, want)
    no_bias = C.qs8_gconv2d_static(x, packed, (stride, stride), (pad, pad), (dil, dil), 0.03, zp, ws)
    np.testing.assert_array_equal(no_bias, _expected(x, w, ws, np.zeros_like(bias), stride, pad, dil, g, 0.03, zp))


@pytest.mark.parametrize("act,lo,hi", [("relu", 0, 0), ("clamp", 0, 6), ("clamp", -1, 1), ("hardswish", 0, 0),
                                       ("hardsigmoid", 0, 0), ("none", 0, 0)])
@pytest.mark.parametrize("with_residual", [False, True])
def test_gconv_postops(isa, act, lo, hi, with_residual):
    x, w, ws, bias = _case(11, 2, 9, 9, 32, 32, 8, 3)
    base = _expected(x, w, ws, bias, 1, 1, 1, 8, 0.03, 0)
    res = np.random.default_rng(5).standard_normal(base.shape).astype(np.float32) * 3 if with_residual else None
    y = base + res if with_residual else base
    f32 = np.float32
    want = {"none": y, "relu": np.where(y < 0, f32(0), y), "clamp": np.where(y < lo, f32(lo), np.where(y > hi, f32(hi), y)),
            "hardswish": y * np.clip(y + f32(3), 0, 6).astype(np.float32) / f32(6),
            "hardsigmoid": np.clip(y + f32(3), 0, 6).astype(np.float32) / f32(6)}[act]
    got = C.qs8_gconv2d_static(x, C.PackedQs8GroupedWeights(w, 8, isa), (1, 1), (1, 1), (1, 1), 0.03, 0, ws, bias,
                               residual=res, activation=act, act_lo=lo, act_hi=hi, num_threads=2)
    np.testing.assert_array_equal(got, want.astype(np.float32))


def test_gconv_nan_image_gives_nan_only_there(isa):
    x, w, ws, bias = _case(2, 2, 6, 6, 16, 16, 4, 3)
    x[1, 2, 3, 4] = np.nan
    got = C.qs8_gconv2d_static(x, C.PackedQs8GroupedWeights(w, 4, isa), (1, 1), (1, 1), (1, 1), 0.03, 0, ws, bias)
    assert np.isnan(got[1]).all() and np.isfinite(got[0]).all()
    # int8 output: the NaN image's bytes are the output zero point (int8 carries no NaN), through the
    # kernels' NaN-aware finish
    q = C.qs8_gconv2d_static(x, C.PackedQs8GroupedWeights(w, 4, isa), (1, 1), (1, 1), (1, 1), 0.03, 0, ws, bias,
                             activation="relu", output_scale=0.1, output_zero_point=-3)
    assert (q[1] == -3).all()
    want0 = C.qs8_gconv2d_static(x[:1], C.PackedQs8GroupedWeights(w, 4, "scalar"), (1, 1), (1, 1), (1, 1), 0.03, 0, ws,
                                 bias, activation="relu", output_scale=0.1, output_zero_point=-3)
    np.testing.assert_array_equal(q[:1], want0)


@pytest.mark.parametrize("N,H,W,Cc,Co,g,k,stride,pad,dil", SHAPES)
@pytest.mark.parametrize("act,lo,hi", [("none", 0, 0), ("clamp", 0, 6), ("hardswish", 0, 0), ("relu", 0, 0)])
@pytest.mark.parametrize("huge_bias", [False, True], ids=["bounded", "unbounded"])
def test_gconv_int8_output_equals_the_reference_finish(isa, N, H, W, Cc, Co, g, k, stride, pad, dil, act, lo, hi,
                                                       huge_bias):
    """int8 in, int8 out (an int8 edge): the kernels that finish in registers (AVX2: the finite pair
    packs and the NaN-aware path) give exactly the scalar path's bytes, which finishes the fp32 row
    with the reference requantizer; at 1 and 2 threads, with an int8 residual and without."""
    rng = np.random.default_rng(N * 31 + Cc + Co + k)
    xq = rng.integers(-128, 128, (N, H, W, Cc), dtype=np.int8)
    w = rng.integers(-128, 128, (Co, Cc // g, k, k), dtype=np.int8)
    ws = (rng.random(Co) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(Co).astype(np.float32)
    if huge_bias:  # beyond the kernels' finite-value bound: the run takes the NaN / infinity-aware finish
        bias[Co // 2] = 3e25
    oh, ow = (H + 2 * pad - dil * (k - 1) - 1) // stride + 1, (W + 2 * pad - dil * (k - 1) - 1) // stride + 1
    res = rng.integers(-128, 128, (N, oh, ow, Co), dtype=np.int8)
    args = ((stride, stride), (pad, pad), (dil, dil), 0.02, -4, ws, bias)
    for residual in (None, res):
        kw = dict(residual=residual, activation=act, act_lo=lo, act_hi=hi, residual_scale=0.05,
                  residual_zero_point=3, output_scale=0.07, output_zero_point=-5)
        want = C.qs8_gconv2d_static(xq, C.PackedQs8GroupedWeights(w, g, "scalar"), *args, **kw)
        assert want.dtype == np.int8 and want.shape == (N, oh, ow, Co)
        for threads in (1, 2):
            got = C.qs8_gconv2d_static(xq, C.PackedQs8GroupedWeights(w, g, isa), *args, num_threads=threads, **kw)
            np.testing.assert_array_equal(got, want)


@settings(max_examples=40, deadline=None)
@given(geom=st.sampled_from([(2, 2), (2, 4), (4, 2), (4, 4), (8, 4), (4, 8), (8, 8), (16, 16), (6, 24), (32, 8)]),
       groups=st.integers(2, 7), hw=st.tuples(st.integers(1, 9), st.integers(1, 9)), k=st.sampled_from([1, 2, 3, 5]),
       stride=st.integers(1, 3), pad=st.integers(0, 2), zp=st.integers(-128, 127), seed=st.integers(0, 2**31))
def test_gconv_random_geometries(geom, groups, hw, k, stride, pad, zp, seed):
    """Random group geometries (input, output channels per group), group counts, sizes and borders:
    every available path equals the reference, fp32 and int8 output."""
    cg, coutg = geom
    Cc, Co = cg * groups, coutg * groups
    H, W = hw
    if H + 2 * pad < k or W + 2 * pad < k:
        return
    x, w, ws, bias = _case(seed, 1, H, W, Cc, Co, groups, k)
    want = _expected(x, w, ws, bias, stride, pad, 1, groups, 0.05, zp)
    args = ((stride, stride), (pad, pad), (1, 1), 0.05, zp, ws, bias)
    q_want = C.qs8_gconv2d_static(x, C.PackedQs8GroupedWeights(w, groups, "scalar"), *args, activation="relu",
                                  output_scale=0.2, output_zero_point=-10)
    for isa in C.cpu_info()["available"]:
        packed = C.PackedQs8GroupedWeights(w, groups, isa)
        np.testing.assert_array_equal(C.qs8_gconv2d_static(x, packed, *args, num_threads=2), want)
        np.testing.assert_array_equal(C.qs8_gconv2d_static(x, packed, *args, activation="relu", output_scale=0.2,
                                                           output_zero_point=-10), q_want)


def test_gconv_plan_equals_the_call_and_runs_in_a_chain():
    x, w, ws, bias = _case(4, 1, 8, 8, 32, 32, 8, 3)
    xq = _quantize(x, 0.05, 2)
    packed = C.PackedQs8GroupedWeights(w, 8)
    kw = dict(activation="relu", output_scale=0.1, output_zero_point=-128)
    want = C.qs8_gconv2d_static(xq, packed, (1, 1), (1, 1), (1, 1), 0.05, 2, ws, bias, **kw)
    plan = C.Qs8GconvConv2dPlan(packed, (1, 1), (1, 1), (1, 1), 0.05, 2, ws, bias, "relu", 0.0, 0.0, 1.0, 0, 0.1, -128)
    np.testing.assert_array_equal(plan(xq), want)
    np.testing.assert_array_equal(C.qs8_conv_chain(xq, [plan], [-2], 2), want)
    with pytest.raises(TypeError, match="weights: expected PackedQs8GroupedWeights, got PackedQs8DwWeights"):
        C.Qs8GconvConv2dPlan(C.PackedQs8DwWeights(np.zeros((4, 3, 3), np.int8)), (1, 1), (1, 1), (1, 1), 0.05, 2, ws)


def test_gconv_bad_arguments():
    x, w, ws, bias = _case(1, 1, 6, 6, 16, 16, 4, 3)
    pw = C.PackedQs8GroupedWeights(w, 4)
    run = lambda **kw: C.qs8_gconv2d_static(**{**dict(x_nhwc=x, weights=pw, stride=(1, 1), padding=(1, 1),  # noqa: E731
                                                      dilation=(1, 1), input_scale=0.1, input_zero_point=0,
                                                      weight_scale=ws, bias=bias), **kw})
    with pytest.raises(ValueError, match="x: expected 16 channels"):
        run(x_nhwc=np.zeros((1, 6, 6, 12), np.float32))
    with pytest.raises(ValueError, match="residual: expected the output's NHWC shape"):
        run(residual=np.zeros((1, 6, 6, 7), np.float32))
    with pytest.raises(ValueError, match="activation: expected"):
        run(activation="gelu")
    with pytest.raises(ValueError, match="weight_scale"):
        run(weight_scale=np.ones(7, np.float32))
    with pytest.raises(ValueError, match="bias"):
        run(bias=np.ones(9, np.float32))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        run(x_nhwc=np.zeros((1, 2, 2, 16), np.float32), padding=(0, 0))
    with pytest.raises(ValueError, match="input_scale"):
        run(input_scale=0.0)
    with pytest.raises(ValueError, match="num_threads"):
        run(num_threads=0)
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        run(x_nhwc=x.astype(np.float64))
    with pytest.raises(ValueError, match="weight: expected a non-empty"):
        C.PackedQs8GroupedWeights(np.zeros((0, 4, 3, 3), np.int8), 4)
    with pytest.raises(ValueError, match="weight: expected 4 dimensions"):
        C.PackedQs8GroupedWeights(np.zeros((4, 3, 3), np.int8), 4)
    with pytest.raises(ValueError, match="groups: the grouped kernel takes"):
        C.PackedQs8GroupedWeights(np.zeros((16, 3, 3, 3), np.int8), 4)  # 3 input channels per group
    with pytest.raises(ValueError, match="groups: expected >= 1"):
        C.PackedQs8GroupedWeights(w, 0)
    with pytest.raises(ValueError, match="groups: expected x.shape"):
        C.ref_qs8_conv_s32(np.zeros((1, 4, 4, 8), np.int8), w, (1, 1), (1, 1), (1, 1), 3, 0)
    with pytest.raises(ValueError, match="unknown isa|isa"):
        C.PackedQs8GroupedWeights(w, 4, "sse9")
