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


def _gemm(isa, **kw):
    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, (21, 3 * 3 * 21), dtype=np.int8)
    ws = (rng.random(21) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(21).astype(np.float32)
    pw = C.PackedQs8Weights(w, isa)
    return lambda x, **k: C.qs8_conv2d_static(x, [pw], (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.03, -3, ws, bias, False,
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
