"""qs8 NCHW -> NHWC entry quantizer: every ISA path gives exactly the reference row quantizer's bytes
on the transposed image (odd channel counts, pixel counts off the 16-wide step, the RGB shuffle
path, zero points, saturating values), flags exactly the images holding NaN / Inf (whose bytes are
then all the zero point), and rejects bad arguments with ValueError."""
import numpy as np
import pytest

from nnslim._native import C


def _reference(x, scale, zp):
    n = x.shape[0]
    rows = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n, -1)
    q, s = C.qs8_quantize_rows_static(rows, scale, zp, reference=True)
    return q.reshape(n, x.shape[2], x.shape[3], x.shape[1]), np.isnan(s)


@pytest.mark.parametrize("shape", [(1, 3, 224, 224), (2, 3, 5, 7), (1, 1, 9, 9), (3, 4, 6, 6), (1, 5, 17, 3),
                                   (2, 16, 4, 5), (1, 3, 1, 1), (1, 3, 64, 65)])
@pytest.mark.parametrize("zp", [0, -7, 100])
def test_quant_nchw_matches_reference(isa, shape, zp):
    rng = np.random.default_rng(sum(shape) + abs(zp))
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    x.flat[::97] = 1e6  # saturates
    want, want_bad = _reference(x, 0.03, zp)
    for threads in (1, 2):
        q, bad = C.qs8_quantize_nchw_to_nhwc(x, 0.03, zp, isa=isa, num_threads=threads)
        assert q.dtype == np.int8 and q.shape == want.shape
        np.testing.assert_array_equal(q, want)
        np.testing.assert_array_equal(bad, want_bad)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_quant_nchw_flags_only_the_nonfinite_image(isa, bad_value):
    x = np.random.default_rng(1).standard_normal((3, 3, 20, 21)).astype(np.float32)
    x[1, 2, 19, 20] = bad_value  # the last value: in the scalar tail of the RGB path
    q, bad = C.qs8_quantize_nchw_to_nhwc(x, 0.05, 4, isa=isa, num_threads=2)
    np.testing.assert_array_equal(bad, [False, True, False])
    assert (q[1] == 4).all()
    want, _ = _reference(x, 0.05, 4)
    np.testing.assert_array_equal(q[[0, 2]], want[[0, 2]])


def test_quant_nchw_bad_arguments():
    x = np.zeros((1, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="x"):
        C.qs8_quantize_nchw_to_nhwc(np.zeros((3, 4, 4), np.float32), 0.1, 0)
    with pytest.raises((ValueError, TypeError), match="x"):
        C.qs8_quantize_nchw_to_nhwc(x.astype(np.float64), 0.1, 0)
    with pytest.raises(ValueError, match="scale"):
        C.qs8_quantize_nchw_to_nhwc(x, 0.0, 0)
    with pytest.raises(ValueError, match="zero_point"):
        C.qs8_quantize_nchw_to_nhwc(x, 0.1, 300)
    with pytest.raises(ValueError, match="isa"):
        C.qs8_quantize_nchw_to_nhwc(x, 0.1, 0, isa="sse9")
