"""int8 activations between convolutions: an int8 NHWC input equals the fp32 input it was quantized
from, an int8 output equals the fp32 output requantized by the reference quantizer, and an int8
residual equals its dequantized fp32 value, bit for bit, on the GEMM and the depthwise paths."""
import numpy as np
import pytest

from nnslim._native import C


def _quant(x, scale, zp):
    q, _ = C.qs8_quantize_rows_static(np.ascontiguousarray(x.reshape(-1, x.shape[-1])), scale, zp, reference=True)
    return q.reshape(x.shape)


def _dequant(q, scale, zp):
    return (q.astype(np.int32) - zp).astype(np.float32) * np.float32(scale)


def _dw(isa, **kw):
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (21, 3, 3), dtype=np.int8)
    ws = (rng.random(21) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(21).astype(np.float32)
    pw = C.PackedQs8DwWeights(w, isa)
    return lambda x, **k: C.qs8_dwconv2d_static(x, pw, (1, 1), (1, 1), (1, 1), 0.03, -3, ws, bias, num_threads=2,
                                                **{**kw, **k})


def _gemm(isa, cout=21, zp=-3, **kw):
    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, (cout, 3 * 3 * 21), dtype=np.int8)
    ws = (rng.random(cout) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    pw = C.PackedQs8Weights(w, isa)
    return lambda x, **k: C.qs8_conv2d_static(x, [pw], (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.03, zp, ws, bias, False,
                                              2, **{**kw, **k})


@pytest.mark.parametrize("make", [_dw, _gemm], ids=["dwconv", "gemm"])
@pytest.mark.parametrize("act", ["none", "relu", "hardswish"])
def test_int8_input_output_and_residual(isa, make, act):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 9, 21)).astype(np.float32)
    conv = make(isa, activation=act)
    xq = _quant(x, 0.03, -3)
    y = conv(x)
    np.testing.assert_array_equal(conv(xq), y)  # int8 input == the fp32 input it came from
    yq = conv(x, output_scale=0.05, output_zero_point=4)
    assert yq.dtype == np.int8
    np.testing.assert_array_equal(yq, _quant(y, 0.05, 4))
    rq = rng.integers(-128, 128, y.shape, dtype=np.int8)
    got = conv(xq, residual=rq, residual_scale=0.02, residual_zero_point=-5)
    np.testing.assert_array_equal(got, conv(x, residual=_dequant(rq, 0.02, -5)))


@pytest.mark.parametrize("cout", [8, 24, 25, 29, 40])
@pytest.mark.parametrize("act", ["none", "relu", "hardswish"])
@pytest.mark.parametrize("nonneg", [False, True], ids=["s8", "7bit"])
def test_int8_output_and_residual_at_half_panels(isa, cout, act, nonneg):
    # A last panel of <= 8 columns (cout % 16 in 1..8) runs the kernels' half-width tile: the output,
    # fp32 and int8, with and without an int8 residual, must be the reference's; 7-bit inputs take the
    # AVX2 kernel's sign-free path.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 9, 21)).astype(np.float32)
    zp = 0 if nonneg else -3
    conv = _gemm(isa, cout, zp, activation=act)
    ref = _gemm("scalar", cout, zp, activation=act)
    xq = _quant(x, 0.03, zp)
    if nonneg:
        xq = np.maximum(xq, 0)
    ys = [conv(xq), conv(xq, output_scale=0.05, output_zero_point=4)]
    rq = rng.integers(-128, 128, ys[0].shape, dtype=np.int8)
    ys += [conv(xq, residual=rq, residual_scale=0.02, residual_zero_point=-5, output_scale=0.05, output_zero_point=4),
           conv(xq, residual=_dequant(rq, 0.02, -5))]
    want = [ref(xq), ref(xq, output_scale=0.05, output_zero_point=4),
            ref(xq, residual=rq, residual_scale=0.02, residual_zero_point=-5, output_scale=0.05, output_zero_point=4),
            ref(xq, residual=_dequant(rq, 0.02, -5))]
    for got, w in zip(ys, want):
        np.testing.assert_array_equal(got, w)


def test_int8_io_bad_arguments():
    conv = _dw("scalar")
    x = np.zeros((1, 7, 9, 21), np.float32)
    with pytest.raises(ValueError, match="output_scale"):
        conv(x, output_scale=0.0)
    with pytest.raises(ValueError, match="output_zero_point"):
        conv(x, output_scale=0.1, output_zero_point=200)
    with pytest.raises(ValueError, match="residual_scale"):
        conv(x, residual=np.zeros((1, 7, 9, 21), np.int8), residual_scale=-1.0)
    with pytest.raises(ValueError, match="residual_zero_point"):
        conv(x, residual=np.zeros((1, 7, 9, 21), np.int8), residual_zero_point=300)
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        conv(np.zeros((1, 7, 9, 21), np.uint8))


def test_conv_plan_equals_the_one_shot_call():
    """C.Qs8Conv2dPlan (every argument but x, residual and threads bound and checked once, as
    Int8Conv2d binds it) gives the one-shot qs8_conv2d_static's result, and checks x, the residual
    and the weights' K against x on each call."""
    import numpy as np
    import pytest
    from nnslim._native import C

    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (2, 6, 7, 16), dtype=np.int8)
    w = rng.integers(-128, 128, (24, 9 * 16), dtype=np.int8)
    ws = np.full(24, 0.01, np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    pk = [C.PackedQs8Weights(w, C.selected_isa())]
    res = rng.integers(-128, 128, (2, 6, 7, 24), dtype=np.int8)
    args = (pk, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.03, -3, ws, b, False)
    kw = dict(activation="relu", residual_scale=0.02, residual_zero_point=1, output_scale=0.05, output_zero_point=2)
    plan = C.Qs8Conv2dPlan(*args, **kw)
    want = C.qs8_conv2d_static(x, *args, 2, res, **kw)
    assert np.array_equal(plan(x, res, 2), want)
    with pytest.raises(ValueError, match="residual"):
        plan(x, res[:, :5], 2)
    with pytest.raises(ValueError, match="in_features"):
        plan(np.ascontiguousarray(x[..., :8]), res, 2)  # 8 channels: the weights' K is for 16
    with pytest.raises(ValueError, match="weight_scale"):
        C.Qs8Conv2dPlan(pk, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.03, -3, ws[:5], b, False)
    with pytest.raises(ValueError, match="input_scale"):
        C.Qs8Conv2dPlan(pk, (3, 3), (1, 1), (1, 1), (1, 1), 1, -1.0, -3, ws, b, False)
