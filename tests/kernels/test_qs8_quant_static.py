"""Static (calibrated) quantization kernels equal the reference on every path."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from nnslim._native import C


@pytest.mark.parametrize("K", [1, 7, 8, 9, 16, 33, 300])
@pytest.mark.parametrize("zp", [-128, 0, 5, 127])
def test_static_quant_matches_reference(isa, K, zp):
    rng = np.random.default_rng(K)
    x = (rng.standard_normal((6, K)) * 3).astype(np.float32)
    x[1, 0] = np.nan
    x[2, -1] = np.inf
    x[3] = 1e30
    q, s = C.qs8_quantize_rows_static(x, 0.02, zp, reference=True)
    q2, s2 = C.qs8_quantize_rows_static(x, 0.02, zp, isa=isa)
    np.testing.assert_array_equal(q, q2)
    np.testing.assert_array_equal(s, s2)
    assert np.isnan(s[1]) and np.isnan(s[2]) and s[0] == np.float32(0.02)
    assert (q[1] == zp).all()
    assert (q[3] == 127).all()


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 50)),
                elements=st.floats(width=32, allow_nan=True, allow_infinity=True)),
       scale=st.floats(0.0009765625, 8.0, width=32), zp=st.integers(-128, 127))
def test_static_quant_hypothesis(x, scale, zp):
    q, s = C.qs8_quantize_rows_static(x, scale, zp, reference=True)
    for isa in C.cpu_info()["available"]:
        q2, s2 = C.qs8_quantize_rows_static(x, scale, zp, isa=isa)
        np.testing.assert_array_equal(q, q2, err_msg=isa)
        np.testing.assert_array_equal(s, s2, err_msg=isa)


def test_static_qparams_validated():
    x = np.zeros((1, 4), np.float32)
    with pytest.raises(ValueError, match="input_scale"):
        C.qs8_quantize_rows_static(x, 0.0, 0)
    with pytest.raises(ValueError, match="input_zero_point"):
        C.qs8_quantize_rows_static(x, 1.0, 200)
