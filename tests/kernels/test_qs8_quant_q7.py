"""7-bit asymmetric per-row quantization (ref::qs8_quantize_row_q7) and the dynamic linear layer on
it (activation_bits=7): every ISA's quantizer equals the reference bit for bit in both storage forms
(s8 codes minus the zero point, or the unsigned codes), and linear_dynamic(..., 7) gives the outputs
of the reference GEMM over the s8 codes on every path, including AVX2's, which multiplies the
unsigned codes without sign steps and subtracts zero point x column sum."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from nnslim._native import C


def _check(x, isa):
    out = {}
    for unsigned in (False, True):
        q, s, z = C.qs8_quantize_rows(x, reference=True, activation_bits=7, unsigned_codes=unsigned)
        q2, s2, z2 = C.qs8_quantize_rows(x, isa=isa, activation_bits=7, unsigned_codes=unsigned)
        np.testing.assert_array_equal(q, q2)
        np.testing.assert_array_equal(s, s2)  # NaN == NaN here
        np.testing.assert_array_equal(z, z2)
        out[unsigned] = (q, s, z)
    (qs, s, z0), (qu, _, z) = out[False], out[True]
    assert not z0.any()
    # The two forms hold the same values: unsigned - zero point = signed.
    np.testing.assert_array_equal(qu.astype(np.int32) - z[:, None], qs.astype(np.int32))
    return qs, s, qu, z


def test_reference_semantics():
    x = np.array([[1.0, -2.0, 0.5, 0.0], [0, 0, 0, 0], [1, np.nan, 2, 3], [1, -np.inf, 0, 0],
                  [3.0, 3.0, 3.0, 3.0], [-1.0, -4.0, -2.0, -3.0], [-0.17, 0.0, 10.0, 5.0]], np.float32)
    qs, s, qu, z = _check(x, "scalar")
    # Row 0: lo = -2, hi = 1, inv = 127 / 3; zp = rne(2 * 127 / 3) = 85.
    assert s[0] == np.float32(3.0) / np.float32(127) and z[0] == 85
    np.testing.assert_array_equal(qu[0], [127, 0, 106, 85])  # 42.33 + 85, clamped; 21.17 + 85 -> 106
    assert s[1] == 0 and not qs[1].any() and not qu[1].any() and z[1] == 0
    assert np.isnan(s[2]) and not qu[2].any() and z[2] == 0
    assert np.isnan(s[3]) and not qu[3].any()
    # All positive: lo = 0, zp = 0, the top value on code 127; all negative: hi = 0, zp = 127.
    assert z[4] == 0 and (qu[4] == 127).all()
    assert z[5] == 127 and qu[5, 1] == 0 and qs[5, 1] == -127
    # Post-GELU-like rows keep nearly all 128 codes for their positive range.
    assert z[6] == 2 and qu[6, 2] == 127


def test_range_beyond_float_max_stays_finite(isa):
    # hi - lo overflows to inf: the scale is taken as hi / 127 - lo / 127, so the row still quantizes.
    x = np.array([[3e38, -3e38, 1.0, 2.0], [3.4e38, -1.0, 0.0, 0.0]], np.float32)
    qs, s, _, z = _check(x, isa)
    assert np.isfinite(s).all() and (s > 0).all()
    assert qs[0, 0] > 60 and qs[0, 1] < -60 and z[0] in (63, 64)
    packed = C.PackedQs8Weights(np.ones((3, 4), np.int8), isa)
    y = packed.linear_dynamic(x, np.full(3, 1e-3, np.float32), None, False, 1, 7)
    assert np.isfinite(y).all()


@pytest.mark.parametrize("K", [1, 7, 8, 15, 16, 17, 100, 1000])
def test_quant_matches_reference(isa, K):
    rng = np.random.default_rng(K)
    x = rng.standard_normal((10, K)).astype(np.float32) * 10
    x[1] = 0
    x[2, 0] = np.nan
    x[3, -1] = -np.inf
    x[4] = 5.0
    x[5] = np.abs(x[5])
    x[6] = -np.abs(x[6])
    x[7, ::2] = -0.0
    _check(x, isa)


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 70)),
                elements=st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)))
def test_quant_hypothesis(x):
    for isa in C.cpu_info()["available"]:
        _check(x, isa)


def _rand(rng, shape, lo, hi):
    return rng.integers(lo, hi + 1, shape, dtype=np.int8)


@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (5, 33, 70), (70, 100, 257), (13, 40, 1000), (1, 4096, 64)])
def test_linear_dynamic_7bit_identical_to_reference(isa, M, N, K):
    rng = np.random.default_rng(K)
    b = _rand(rng, (N, K), -127, 127)
    x = rng.standard_normal((M, K)).astype(np.float32)
    x[0, 0] = 0.0
    if M > 3:
        x[1] = 0.0
        x[2] = np.abs(x[2]) * 3  # zero point 0
        x[3, 1] = np.nan
    ws = (rng.random(N) + 0.01).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    q, s, _ = C.qs8_quantize_rows(x, reference=True, activation_bits=7)
    want = C.ref_qs8_gemm_s32(q, b).astype(np.float32) * (s[:, None] * ws[None, :]) + bias
    packed = C.PackedQs8Weights(b, isa)
    np.testing.assert_array_equal(packed.linear_dynamic(x, ws, bias, False, 2, 7), want)
    relu = np.where(want < 0, np.float32(0), want)
    np.testing.assert_array_equal(packed.linear_dynamic(x, ws, bias, True, 2, 7), relu)


def test_linear_dynamic_7bit_every_layout_and_chunking(isa):
    """AVX2's s16 layout (weights with -128, or the signed-activations hint) takes the s8 codes; K past
    one chunk too: both without unsigned codes, all equal to the reference."""
    rng = np.random.default_rng(5)
    for K, hint, lo in ((300, False, -128), (300, True, -127), (65536 + 100, False, -127)):
        N, M = (3, 2) if K > 65536 else (40, 9)
        b = _rand(rng, (N, K), lo, 127)
        x = (rng.standard_normal((M, K)) + 0.5).astype(np.float32)
        ws = np.full(N, 0.01, np.float32)
        q, s, _ = C.qs8_quantize_rows(x, reference=True, activation_bits=7)
        exact = (q.astype(np.int64) @ b.astype(np.int64).T).astype(np.float64) * s[:, None] * 0.01
        got = C.PackedQs8Weights(b, isa, hint).linear_dynamic(x, ws, None, False, 2, 7)
        if K > 65536:  # dequantized partial sums per chunk: fp32 rounding differs slightly
            np.testing.assert_allclose(got, exact, rtol=1e-5)
        else:
            want = C.ref_qs8_gemm_s32(q, b).astype(np.float32) * (s[:, None] * ws[None, :]) + np.float32(0)
            np.testing.assert_array_equal(got, want)


def test_7bit_closer_than_half_resolution():
    """Asymmetric codes spend all 128 steps on [min, max]: a one-sided row (post-GELU) quantizes
    about as finely as with 8-bit symmetric codes."""
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal((64, 512)), -0.17).astype(np.float32)
    q8, s8 = C.qs8_quantize_rows(x, reference=True)
    q7, s7, _ = C.qs8_quantize_rows(x, reference=True, activation_bits=7)
    err8 = np.abs(q8 * s8[:, None] - x).mean()
    err7 = np.abs(q7 * s7[:, None] - x).mean()
    assert err7 < 1.2 * err8


def test_bad_arguments():
    x = np.zeros((2, 8), np.float32)
    packed = C.PackedQs8Weights(np.ones((4, 8), np.int8))
    ws = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="activation_bits"):
        packed.linear_dynamic(x, ws, None, False, 1, 6)
    with pytest.raises(ValueError, match="activation_bits"):
        C.qs8_quantize_rows(x, activation_bits=4)
    with pytest.raises(ValueError, match="unsigned_codes"):
        C.qs8_quantize_rows(x, unsigned_codes=True)
