"""q4 weight-only linear kernels: every ISA path equals the scalar reference exactly, on the int32
group sums and on the fp32 outputs, for the linear int4 table, the log2 table and arbitrary tables."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nnslim._native import C

LINEAR = np.arange(-8, 8, dtype=np.int8)
LOG2 = np.array([64, 32, 16, 8, 4, 2, 1, 0, -64, -32, -16, -8, -4, -2, -1, 0], np.int8)
EXTREME = np.array([-128, 127, -128, 127, 0, 1, -1, 2, -2, 100, -100, 64, -64, 127, -128, 0], np.int8)
TABLES = {"linear": LINEAR, "log2": LOG2, "extreme": EXTREME}
SHAPES = [(1, 1, 1, 32), (1, 7, 3, 32), (3, 5, 64, 32), (8, 32, 128, 128), (9, 33, 129, 64), (17, 70, 300, 128),
          (1, 96, 4096, 128), (20, 31, 257, 32), (5, 1, 1000, 64), (2, 65, 4096, 4096)]


def kernel_name(isa):
    return "avx512_vnni" if isa == "amx" else isa  # AMX requests run the VNNI kernel (decode shapes)


def _case(rng, M, N, K, group):
    codes = rng.integers(0, 256, (N, (K + 1) // 2), dtype=np.uint8)
    scales = rng.standard_normal((N, -(-K // group))).astype(np.float32)
    a = rng.integers(-127, 128, (M, K), dtype=np.int8)
    return codes, scales, a


def _oracle_group_sums(a, codes, group, table):
    """numpy statement of the semantics: nibble k of row n is (codes[n, k // 2] >> 4 * (k % 2)) & 15."""
    K = a.shape[1]
    c = np.stack([codes & 15, codes >> 4], axis=-1).reshape(codes.shape[0], -1)[:, :K]
    w = table.astype(np.int64)[c]
    G = -(-K // group)
    pad = G * group - K
    a64 = np.pad(a.astype(np.int64), ((0, 0), (0, pad))).reshape(a.shape[0], G, group)
    w64 = np.pad(w, ((0, 0), (0, pad))).reshape(w.shape[0], G, group)
    return np.einsum("mgk,ngk->mng", a64, w64)


@pytest.mark.parametrize("table", list(TABLES))
@pytest.mark.parametrize("M,N,K,group", SHAPES)
def test_group_sums_match_reference(isa, M, N, K, group, table):
    rng = np.random.default_rng(M * 7919 + N * 31 + K)
    codes, scales, a = _case(rng, M, N, K, group)
    t = TABLES[table]
    want = C.ref_q4_gemm_group_s32(a, codes, group, t)
    if K <= 1000:
        np.testing.assert_array_equal(want, _oracle_group_sums(a, codes, group, t))
    packed = C.PackedQ4Weights(codes, scales, K, group, t, isa)
    assert packed.isa == kernel_name(isa)
    assert packed.linear_table == (table == "linear")
    for threads in (1, 2, 3):
        np.testing.assert_array_equal(packed.gemm_group_s32(a, threads), want)


@pytest.mark.parametrize("table", list(TABLES))
@pytest.mark.parametrize("M,N,K,group", SHAPES)
def test_linear_fp32_identical_to_reference(isa, M, N, K, group, table):
    rng = np.random.default_rng(K * 13 + N)
    codes, scales, _ = _case(rng, M, N, K, group)
    x = rng.standard_normal((M, K)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    t = TABLES[table]
    packed = C.PackedQ4Weights(codes, scales, K, group, t, isa)
    np.testing.assert_array_equal(packed.linear(x, bias, 2), C.ref_q4_linear(x, codes, scales, group, t, bias))
    np.testing.assert_array_equal(packed.linear(x, None, 1), C.ref_q4_linear(x, codes, scales, group, t, None))


def test_reference_linear_semantics():
    # y = (sum_g float(group sum) * scale[n, g]) * a_scale + bias, with per-row int8 activations.
    rng = np.random.default_rng(0)
    M, N, K, group = 3, 5, 200, 64
    codes, scales, _ = _case(rng, M, N, K, group)
    x = rng.standard_normal((M, K)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    q, s = C.qs8_quantize_rows(x, reference=True)
    sums = _oracle_group_sums(q, codes, group, LOG2)
    want = np.zeros((M, N), np.float32)
    for g in range(sums.shape[2]):
        want = want + sums[:, :, g].astype(np.float32) * scales[None, :, g]
    want = want * s[:, None] + bias
    np.testing.assert_array_equal(C.ref_q4_linear(x, codes, scales, group, LOG2, bias), want)


@pytest.mark.parametrize("table", list(TABLES))
def test_extremes_exact(isa, table):
    # Largest group (4096) at full scale: |sum| up to 4096 * 127 * 128, the u8 offsets push the VNNI
    # accumulators further (values + 128 up to 255) before the compensation comes off.
    K, group = 8192, 4096
    t = TABLES[table]
    hi_code, lo_code = int(np.argmax(t)), int(np.argmin(t))
    codes = np.empty((4, K // 2), np.uint8)
    codes[0] = hi_code | (hi_code << 4)
    codes[1] = lo_code | (lo_code << 4)
    codes[2] = hi_code | (lo_code << 4)
    codes[3] = 0
    a = np.empty((3, K), np.int8)
    a[0], a[1] = 127, -127
    a[2, 0::2], a[2, 1::2] = 127, -127
    scales = np.ones((4, 2), np.float32)
    want = C.ref_q4_gemm_group_s32(a, codes, group, t)
    np.testing.assert_array_equal(want, _oracle_group_sums(a, codes, group, t))
    got = C.PackedQ4Weights(codes, scales, K, group, t, isa).gemm_group_s32(a, 2)
    np.testing.assert_array_equal(got, want)


def test_nan_inf_and_zero_rows_propagate_like_reference(isa):
    rng = np.random.default_rng(5)
    codes, scales, _ = _case(rng, 4, 40, 96, 32)
    x = rng.standard_normal((4, 96)).astype(np.float32)
    x[1] = 0
    x[2, 7] = np.nan
    x[3, 50] = -np.inf
    bias = rng.standard_normal(40).astype(np.float32)
    y = C.PackedQ4Weights(codes, scales, 96, 32, None, isa).linear(x, bias, 1)
    np.testing.assert_array_equal(y, C.ref_q4_linear(x, codes, scales, 32, None, bias))
    np.testing.assert_array_equal(y[1], bias)
    assert np.isnan(y[2]).all() and np.isnan(y[3]).all() and np.isfinite(y[0]).all()


@settings(max_examples=40, deadline=None)
@given(M=st.integers(1, 20), N=st.integers(1, 80), groups=st.integers(1, 4), group=st.sampled_from([32, 64, 128]),
       short=st.integers(0, 31), table=st.sampled_from(list(TABLES)), seed=st.integers(0, 2**31))
def test_hypothesis_every_path(M, N, groups, group, short, table, seed):
    K = max(1, groups * group - short)  # multiples of the group and ragged last groups
    rng = np.random.default_rng(seed)
    codes, scales, a = _case(rng, M, N, K, group)
    x = rng.standard_normal((M, K)).astype(np.float32)
    t = TABLES[table]
    want = C.ref_q4_gemm_group_s32(a, codes, group, t)
    want_y = C.ref_q4_linear(x, codes, scales, group, t, None)
    for isa in C.cpu_info()["available"]:
        packed = C.PackedQ4Weights(codes, scales, K, group, t, isa)
        np.testing.assert_array_equal(packed.gemm_group_s32(a, 2), want, err_msg=isa)
        np.testing.assert_array_equal(packed.linear(x, None, 2), want_y, err_msg=isa)


def test_bad_arguments_raise_clear_errors():
    codes = np.zeros((4, 32), np.uint8)
    scales = np.ones((4, 1), np.float32)
    with pytest.raises(ValueError, match="group_size"):
        C.PackedQ4Weights(codes, scales, 64, 48)
    with pytest.raises(ValueError, match="group_size"):
        C.PackedQ4Weights(codes, scales, 64, 8192)
    with pytest.raises(ValueError, match="codes"):
        C.PackedQ4Weights(codes, scales, 66, 64)
    with pytest.raises(ValueError, match="scales"):
        C.PackedQ4Weights(codes, np.ones((4, 2), np.float32), 64, 64)
    with pytest.raises(TypeError, match="uint8"):
        C.PackedQ4Weights(codes.astype(np.int8), scales, 64, 64)
    with pytest.raises(ValueError, match="table"):
        C.PackedQ4Weights(codes, scales, 64, 64, np.zeros(8, np.int8))
    with pytest.raises(ValueError, match="isa"):
        C.PackedQ4Weights(codes, scales, 64, 64, None, "sse9")
    packed = C.PackedQ4Weights(codes, scales, 64, 64)
    with pytest.raises(ValueError, match="in_features"):
        packed.linear(np.zeros((2, 63), np.float32))
    with pytest.raises(ValueError, match="-128"):
        packed.gemm_group_s32(np.full((1, 64), -128, np.int8))
    with pytest.raises(ValueError, match="bias"):
        packed.linear(np.zeros((2, 64), np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="num_threads"):
        packed.linear(np.zeros((2, 64), np.float32), None, 0)
    assert packed.linear(np.zeros((0, 64), np.float32)).shape == (0, 4)
