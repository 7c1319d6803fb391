"""qs8 GEMM: every ISA path equals the scalar reference exactly, on every shape and value range."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nnslim._native import C

SHAPES = [(1, 1, 1), (1, 7, 3), (3, 5, 7), (8, 32, 64), (9, 33, 65), (37, 45, 200), (129, 77, 301),
          (1, 768, 768), (64, 100, 1000), (33, 17, 4), (2, 64, 128), (40, 31, 63)]


def _rand(rng, shape, lo=-128, hi=127):
    return rng.integers(lo, hi + 1, shape, dtype=np.int8)


@pytest.mark.parametrize("M,N,K", SHAPES)
def test_gemm_matches_reference(isa, M, N, K):
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    a, b = _rand(rng, (M, K)), _rand(rng, (N, K))
    want = C.ref_qs8_gemm_s32(a, b)
    np.testing.assert_array_equal(want, a.astype(np.int64) @ b.astype(np.int64).T)
    packed = C.PackedQs8Weights(b, isa)
    assert packed.isa == isa
    for threads in (1, 2, 3):
        np.testing.assert_array_equal(packed.gemm_s32(a, threads), want)


@pytest.mark.parametrize("M,N,K", SHAPES)
def test_gemm_weights_without_minus_128(isa, M, N, K):
    # Symmetric quantizers give weights in [-127, 127]: the AVX2 path then packs its s8 layout
    # (|a| * sign-adjusted w through vpmaddubsw), which must be exact for every activation.
    rng = np.random.default_rng(M * 7 + N * 3 + K)
    a, b = _rand(rng, (M, K)), _rand(rng, (N, K), lo=-127)
    a[0, :] = -128
    want = a.astype(np.int64) @ b.astype(np.int64).T
    for threads in (1, 2):
        np.testing.assert_array_equal(C.PackedQs8Weights(b, isa).gemm_s32(a, threads), want)


@pytest.mark.parametrize("M,N,K", SHAPES + [(200, 40, 65), (140, 33, 96)])
def test_gemm_nonnegative_activations(isa, M, N, K):
    # 7-bit activations ([0, 127]) take the AVX2 kernel without vpabsb / vpsignb, chosen per 66-row
    # block: extremes everywhere, and one negative byte in a chosen block, at a chosen column (a full
    # 32-byte chunk, or the 4-byte tail past the last one), must send only that block back.
    rng = np.random.default_rng(M * 5 + N * 11 + K)
    a, b = _rand(rng, (M, K), lo=0), _rand(rng, (N, K), lo=-127)
    a[0, :] = 127
    b[0, :] = -127
    b[-1, :] = 127
    want = a.astype(np.int64) @ b.astype(np.int64).T
    packed = C.PackedQs8Weights(b, isa)
    for threads in (1, 2):
        np.testing.assert_array_equal(packed.gemm_s32(a, threads), want)
    for row, col in ((M - 1, K - 1), (M // 2, 0), (min(M - 1, 70), K // 2)):
        a2 = a.copy()
        a2[row, col] = -128
        np.testing.assert_array_equal(packed.gemm_s32(a2, 2), a2.astype(np.int64) @ b.astype(np.int64).T,
                                      err_msg=f"negative at ({row}, {col})")


@pytest.mark.parametrize("fill", [-128, 127])
def test_gemm_extremes_exact(isa, fill):
    # -128 x -128 sums are where vpmaddubsw saturates and where u8 + 128 biasing overflows int16.
    K = 4099
    a = np.full((5, K), fill, np.int8)
    b = np.full((19, K), -128, np.int8)
    b[3] = 127
    want = a.astype(np.int64) @ b.astype(np.int64).T
    np.testing.assert_array_equal(C.PackedQs8Weights(b, isa).gemm_s32(a, 2), want)
    b7 = np.where(b == -128, -127, b).astype(np.int8)  # the [-127, 127] layout at its extremes
    want7 = a.astype(np.int64) @ b7.astype(np.int64).T
    np.testing.assert_array_equal(C.PackedQs8Weights(b7, isa).gemm_s32(a, 2), want7)


def test_gemm_large_k_near_int32_limit(isa):
    # K * 128 * 128 just below 2^31: intermediate sums wrap on the VNNI path and must come back exact.
    K = C.MAX_EXACT_K
    a = np.full((2, K), -128, np.int8)
    b = np.full((3, K), -128, np.int8)
    got = C.PackedQs8Weights(b, isa).gemm_s32(a, 2)
    assert (got == K * 16384).all()


def test_gemm_k_too_large_raises(isa):
    K = C.MAX_EXACT_K + 1
    packed = C.PackedQs8Weights(np.zeros((1, K), np.int8), isa)
    with pytest.raises(ValueError, match="exceeds"):
        packed.gemm_s32(np.zeros((1, K), np.int8), 1)


@pytest.mark.parametrize("M,N,K", SHAPES + [(70, 8, 65), (13, 24, 31), (67, 40, 96)])
def test_gemm_signed_activation_hint_exact(isa, M, N, K):
    # signed_activations=True packs AVX2's s16 layout (the hint only picks a layout): exact for signed
    # and 7-bit activations alike, half panels (N % 16 in 1..8) and odd K included.
    rng = np.random.default_rng(M * 13 + N * 5 + K)
    b = _rand(rng, (N, K), lo=-127)
    b[0, :] = -127
    plain, hinted = C.PackedQs8Weights(b, isa), C.PackedQs8Weights(b, isa, signed_activations=True)
    if isa == "avx2":
        assert (plain.layout, hinted.layout) == (1, 0) and hinted.nbytes >= plain.nbytes
    else:
        assert hinted.layout == plain.layout and hinted.nbytes == plain.nbytes
    for lo in (-128, 0):
        a = _rand(rng, (M, K), lo=lo)
        a[-1, :] = lo
        want = a.astype(np.int64) @ b.astype(np.int64).T
        for threads in (1, 2):
            np.testing.assert_array_equal(hinted.gemm_s32(a, threads), want, err_msg=f"lo={lo}")
            np.testing.assert_array_equal(plain.gemm_s32(a, threads), want, err_msg=f"lo={lo}")


def test_gemm_signed_activation_hint_must_be_bool():
    b = np.zeros((4, 8), np.int8)
    for bad in (1, "yes", None):
        with pytest.raises(TypeError, match="signed_activations: expected a bool"):
            C.PackedQs8Weights(b, "scalar", signed_activations=bad)


@settings(max_examples=40, deadline=None)
@given(M=st.integers(1, 70), N=st.integers(1, 70), K=st.integers(1, 300), seed=st.integers(0, 2**31),
       lo=st.sampled_from([-128, -1, 0]), hi=st.sampled_from([0, 1, 127]))
def test_gemm_hypothesis(M, N, K, seed, lo, hi):
    rng = np.random.default_rng(seed)
    a, b = _rand(rng, (M, K), lo, hi), _rand(rng, (N, K), lo, hi)
    want = C.ref_qs8_gemm_s32(a, b)
    for isa in C.cpu_info()["available"]:
        np.testing.assert_array_equal(C.PackedQs8Weights(b, isa).gemm_s32(a, 2), want, err_msg=isa)


@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (5, 33, 70), (70, 100, 257), (1, 4096, 64)])
def test_linear_dynamic_fp32_identical_to_reference(isa, M, N, K):
    rng = np.random.default_rng(K)
    b = _rand(rng, (N, K), -127, 127)
    x = rng.standard_normal((M, K)).astype(np.float32)
    x[0, 0] = 0.0
    ws = (rng.random(N) + 0.01).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    q, s = C.qs8_quantize_rows(x, reference=True)
    want = C.ref_qs8_gemm_s32(q, b).astype(np.float32) * (s[:, None] * ws[None, :]) + bias
    packed = C.PackedQs8Weights(b, isa)
    np.testing.assert_array_equal(packed.linear_dynamic(x, ws, bias, False, 2), want)
    relu = np.where(want < 0, np.float32(0), want)
    np.testing.assert_array_equal(packed.linear_dynamic(x, ws, bias, True, 2), relu)
    no_bias = C.ref_qs8_gemm_s32(q, b).astype(np.float32) * (s[:, None] * ws[None, :]) + np.float32(0)
    np.testing.assert_array_equal(packed.linear_dynamic(x, ws, None, False, 1), no_bias)


def test_linear_dynamic_k_beyond_int32_limit_is_chunked(isa):
    # K > MAX_EXACT_K: the fp32 path splits K and adds dequantized partial sums.
    K = C.MAX_EXACT_K + 1000
    rng = np.random.default_rng(1)
    b = _rand(rng, (3, K), -127, 127)
    x = rng.standard_normal((2, K)).astype(np.float32)
    ws = np.full(3, 0.01, np.float32)
    q, s = C.qs8_quantize_rows(x, reference=True)
    exact = (q.astype(np.int64) @ b.astype(np.int64).T).astype(np.float64) * s[:, None] * 0.01
    got = C.PackedQs8Weights(b, isa).linear_dynamic(x, ws, None, False, 2)
    np.testing.assert_allclose(got, exact, rtol=1e-5)


def test_linear_static_nonnegative_codes_chunked_rows(isa):
    # K beyond one chunk: each chunk's rows lie lda = Kp apart but span only the chunk, so the AVX2
    # kernel checks their sign row by row (not as one flat block). Codes in [0, 127] take the sign-free
    # kernel; one negative code in the second chunk of the last row must not.
    K = 65536 + 300
    rng = np.random.default_rng(3)
    b = _rand(rng, (5, K), -127, 127)
    for neg in (False, True):
        q = rng.integers(0, 128, (7, K), dtype=np.int8)
        if neg:
            q[6, 65536 + 7] = -100
        x = q.astype(np.float32) * np.float32(0.5)  # static scale 0.5, zero point 0: x quantizes to q
        got = C.PackedQs8Weights(b, isa).linear_static(x, 0.5, 0, np.full(5, 0.01, np.float32), None, False, 2)
        exact = (q.astype(np.int64) @ b.astype(np.int64).T).astype(np.float64) * 0.5 * 0.01
        np.testing.assert_allclose(got, exact, rtol=1e-5, err_msg=f"negative code: {neg}")
