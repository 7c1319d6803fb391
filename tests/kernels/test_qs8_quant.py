"""Per-row dynamic quantization: every ISA path equals the reference bit for bit."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from nnslim._native import C


def _check(x, isa):
    q, s = C.qs8_quantize_rows(x, reference=True)
    q2, s2 = C.qs8_quantize_rows(x, isa=isa)
    np.testing.assert_array_equal(q, q2)
    np.testing.assert_array_equal(s, s2)  # NaN == NaN here
    return q, s


def test_reference_semantics():
    x = np.array([[1.0, -2.0, 0.5, 0.0], [0, 0, 0, 0], [1, np.nan, 2, 3], [1, np.inf, 0, 0],
                  [1e-38, -1e-39, 0, 0], [3.0, 3.0, 3.0, 3.0]], np.float32)
    q, s = C.qs8_quantize_rows(x, reference=True)
    np.testing.assert_array_equal(q[0], [64, -127, 32, 0])  # 63.5 rounds to even
    assert s[0] == np.float32(2.0) / np.float32(127)
    assert s[1] == 0 and not q[1].any()
    assert np.isnan(s[2]) and not q[2].any()
    assert np.isnan(s[3]) and not q[3].any()
    assert s[4] == 0 and not q[4].any()  # below the smallest invertible scale
    np.testing.assert_array_equal(q[5], [127] * 4)


@pytest.mark.parametrize("K", [1, 7, 8, 15, 16, 17, 100, 1000])
def test_quant_matches_reference(isa, K):
    rng = np.random.default_rng(K)
    x = rng.standard_normal((9, K)).astype(np.float32) * 10
    x[1] = 0
    x[2, 0] = np.nan
    x[3, -1] = -np.inf
    x[4] = 5.0
    _check(x, isa)


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 70)),
                elements=st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)))
def test_quant_hypothesis(x):
    for isa in C.cpu_info()["available"]:
        _check(x, isa)
