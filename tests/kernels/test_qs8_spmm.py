"""qs8-spmm: the 4x1 block-sparse int8 kernels give the reference's exact int32 product on every
path (tiles of 16 / 64 rows, groups of 2 / 4 blocks, ragged rows, columns and block rows), and their
fp32 outputs equal the dense int8 layer's on the same weights bit for bit."""
import numpy as np
import pytest

from nnslim._native import C

from tests.conftest import available_isas

RNG = np.random.default_rng(0)


def _weight(N, K, block_sparsity, rng=RNG, full_range=True):
    lo = -128 if full_range else -127
    w = rng.integers(lo, 128, (N, K)).astype(np.int8)
    nbr = (N + 3) // 4
    keep = rng.random((nbr, K)) >= block_sparsity
    w *= np.repeat(keep, 4, axis=0)[:N].astype(np.int8)
    return w


def _dense_product(a, w):
    return a.astype(np.int64) @ w.astype(np.int64).T


@pytest.mark.parametrize("M", [1, 3, 15, 16, 17, 63, 64, 65, 130])
@pytest.mark.parametrize("N,K", [(1, 1), (4, 16), (5, 17), (13, 37), (64, 100)])
def test_exact_against_reference(isa, M, N, K):
    w = _weight(N, K, 0.6)
    a = RNG.integers(-128, 128, (M, K)).astype(np.int8)
    blocks = C.bsr4_from_dense(w)
    op = C.SparseInt8LinearOp(*blocks, (N, K), isa)
    want = C.ref_qs8_bsr4_spmm_s32(*blocks, (N, K), a)
    np.testing.assert_array_equal(want, _dense_product(a, w))
    for mode in ("auto", "always", "never"):  # the few-row kernel (AVX2) on every row count, and tiles
        op.set_row_kernel(mode)
        np.testing.assert_array_equal(op.gemm_s32(a, 1), want)
        np.testing.assert_array_equal(op.gemm_s32(a, 2), want)


@pytest.mark.parametrize("pattern", ["empty", "full", "one_block", "odd_groups", "extremes"])
def test_block_row_shapes(isa, pattern):
    N, K, M = 11, 45, 70
    if pattern == "empty":
        w = np.zeros((N, K), np.int8)
    elif pattern == "full":
        w = _weight(N, K, 0.0)
    elif pattern == "one_block":
        w = np.zeros((N, K), np.int8)
        w[8:11, 44] = [-128, 127, 1]
    elif pattern == "odd_groups":  # 1, 3 and 5 blocks per block row: short last groups
        w = np.zeros((N, K), np.int8)
        for b, n in enumerate((1, 3, 5)):
            w[4 * b:4 * b + 4, :n] = RNG.integers(-128, 128, (min(4, N - 4 * b), n))
    else:  # every product at its extreme, long sums (wrap-around of the VNNI offset)
        w = np.full((N, K), -128, np.int8)
    a = np.full((M, K), -128, np.int8) if pattern == "extremes" else RNG.integers(-128, 128, (M, K)).astype(np.int8)
    blocks = C.bsr4_from_dense(w)
    op = C.SparseInt8LinearOp(*blocks, (N, K), isa)
    np.testing.assert_array_equal(op.gemm_s32(a, 2), _dense_product(a, w))
    op.set_row_kernel("always")
    np.testing.assert_array_equal(op.gemm_s32(a, 2), _dense_product(a, w))


def test_long_rows_are_exact(isa):
    N, K, M = 8, 5000, 20
    w = np.full((N, K), -128, np.int8)
    w[::2] = 127
    a = np.full((M, K), -128, np.int8)
    a[1::2] = 127
    op = C.SparseInt8LinearOp(*C.bsr4_from_dense(w), (N, K), isa)
    np.testing.assert_array_equal(op.gemm_s32(a, 2), _dense_product(a, w))


@pytest.mark.parametrize("M,N,K", [(1, 5, 3), (17, 13, 37), (130, 70, 515)])
@pytest.mark.parametrize("relu", [False, True])
def test_fp32_outputs_equal_dense_int8(isa, M, N, K, relu):
    w = _weight(N, K, 0.7, full_range=False)
    x = RNG.standard_normal((M, K)).astype(np.float32)
    if M > 3:
        x[1, 2] = np.nan  # that row's outputs are NaN, as in the dense layer
        x[2, 0] = np.inf
        x[3] = 0.0
    scale = (RNG.random(N) * 0.01 + 1e-3).astype(np.float32)
    bias = RNG.standard_normal(N).astype(np.float32)
    op = C.SparseInt8LinearOp(*C.bsr4_from_dense(w), (N, K), isa)
    dense = C.PackedQs8Weights(w, isa)
    np.testing.assert_array_equal(op.linear_dynamic(x, scale, bias, relu, 2),
                                  dense.linear_dynamic(x, scale, bias, relu, 2))
    op.set_row_kernel("always")
    np.testing.assert_array_equal(op.linear_dynamic(x, scale, bias, relu, 2),
                                  dense.linear_dynamic(x, scale, bias, relu, 2))
    op.set_row_kernel("auto")
    np.testing.assert_array_equal(op.linear_dynamic(x, scale, None, relu, 1),
                                  dense.linear_dynamic(x, scale, None, relu, 1))
    np.testing.assert_array_equal(op.linear_static(x, 0.03, -5, scale, bias, relu, 2),
                                  dense.linear_static(x, 0.03, -5, scale, bias, relu, 2))
    if M > 3:
        assert np.isnan(op.linear_dynamic(x, scale, bias, relu, 2)[1]).all()


def test_all_paths_agree_on_fp32():
    w = _weight(37, 300, 0.8, full_range=False)
    x = RNG.standard_normal((90, 300)).astype(np.float32)
    s = np.full(37, 0.01, np.float32)
    outs = [C.SparseInt8LinearOp(*C.bsr4_from_dense(w), (37, 300), isa).linear_dynamic(x, s, None, False, 2)
            for isa in available_isas()]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_builder_stores_only_blocks_with_a_nonzero():
    w = np.zeros((6, 5), np.int8)
    w[1, 3] = 7
    w[4, 0] = -2
    w[5, 0] = 3
    indptr, indices, values = C.bsr4_from_dense(w)
    assert indptr.tolist() == [0, 1, 2] and indices.tolist() == [3, 0]
    assert values.tolist() == [[0, 7, 0, 0], [-2, 3, 0, 0]]
    assert indptr.dtype == np.int64 and indices.dtype == np.int32 and values.dtype == np.int8


def test_amx_runs_the_vnni_kernel():
    if "amx" not in available_isas():
        pytest.skip("amx not available on this CPU/OS")
    op = C.SparseInt8LinearOp(*C.bsr4_from_dense(np.ones((4, 4), np.int8)), (4, 4), "amx")
    assert op.isa == "avx512_vnni" and "AMX" in op.note


def test_vnni_passes_its_start_up_check():
    if "avx512_vnni" not in available_isas():
        pytest.skip("avx512_vnni not available on this CPU/OS")
    op = C.SparseInt8LinearOp(*C.bsr4_from_dense(np.ones((4, 4), np.int8)), (4, 4), "avx512_vnni")
    assert op.isa == "avx512_vnni", op.note


def _valid():
    w = np.zeros((6, 8), np.int8)
    w[0, 1] = w[1, 1] = w[4, 7] = w[5, 2] = 1
    return C.bsr4_from_dense(w)


@pytest.mark.parametrize("mutate,match", [
    (lambda i, j, v: (i[:-1], j, v), "block_indptr: expected"),
    (lambda i, j, v: (i + 1, j, v), "block_indptr: must start at 0"),
    (lambda i, j, v: (np.array([0, 2, 1], np.int64), j, v), "block_indptr: must be non-decreasing"),
    (lambda i, j, v: (i, j[:-1], v), "block_indices: expected"),
    (lambda i, j, v: (i, j + 100, v), r"block_indices: block_indices\[0\] = 101 is outside"),
    (lambda i, j, v: (i, j[::-1].copy(), v), "strictly increasing|outside"),
    (lambda i, j, v: (i, j, v[:-1]), "block_values: expected 4 values per block"),
    (lambda i, j, v: (i, j, v.reshape(-1)), "block_values: expected 2 dimensions"),
    (lambda i, j, v: (i, j, v.astype(np.int16)), "block_values: expected dtype int8"),
    (lambda i, j, v: (i, j.astype(np.float32), v), "block_indices: expected dtype int32 or int64"),
    (lambda i, j, v: (i, j, np.full_like(v, 1)), "block_values: rows beyond out_features must be 0"),
])
def test_malformed_block_arrays_raise(mutate, match):
    i, j, v = mutate(*_valid())
    with pytest.raises((ValueError, TypeError), match=match):
        C.SparseInt8LinearOp(i, j, v, (6, 8))
    with pytest.raises((ValueError, TypeError), match=match):
        C.bsr4_validate(i, j, v, (6, 8))


def test_bad_call_arguments_raise():
    op = C.SparseInt8LinearOp(*_valid(), (6, 8))
    s = np.ones(6, np.float32)
    with pytest.raises(ValueError, match="x: expected in_features"):
        op.linear_dynamic(np.ones((2, 7), np.float32), s)
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        op.linear_dynamic(np.ones((2, 8), np.float64), s)
    with pytest.raises(ValueError, match="weight_scale: expected out_features"):
        op.linear_dynamic(np.ones((2, 8), np.float32), np.ones(5, np.float32))
    with pytest.raises(ValueError, match="bias: expected out_features"):
        op.linear_dynamic(np.ones((2, 8), np.float32), s, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="num_threads"):
        op.linear_dynamic(np.ones((2, 8), np.float32), s, None, False, 0)
    with pytest.raises(ValueError, match="input_scale"):
        op.linear_static(np.ones((2, 8), np.float32), 0.0, 0, s)
    with pytest.raises(ValueError, match="input_zero_point"):
        op.linear_static(np.ones((2, 8), np.float32), 0.1, 300, s)
    with pytest.raises(ValueError, match="a: expected in_features"):
        op.gemm_s32(np.ones((2, 9), np.int8))
    with pytest.raises(ValueError, match="shape"):
        C.SparseInt8LinearOp(np.zeros(2, np.int64), np.zeros(0, np.int32), np.zeros((0, 4), np.int8), (4, 200000))
    with pytest.raises(ValueError, match="isa"):
        C.SparseInt8LinearOp(*_valid(), (6, 8), "sse9")
    with pytest.raises(ValueError, match="row_kernel"):
        op.set_row_kernel("sometimes")
    assert op.linear_dynamic(np.ones((0, 8), np.float32), s).shape == (0, 6)


def test_threaded_path_is_exact_and_huge_thread_counts_are_clamped(isa):
    # Above the driver's threading threshold (the small cases above run on one thread).
    M, N, K = 256, 512, 512
    w = _weight(N, K, 0.6)
    a = RNG.integers(-128, 128, (M, K)).astype(np.int8)
    blocks = C.bsr4_from_dense(w)
    op = C.SparseInt8LinearOp(*blocks, (N, K), isa)
    want = C.ref_qs8_bsr4_spmm_s32(*blocks, (N, K), a)
    for threads in (2, 3, 7, 2**29 + 1, 2**30):
        np.testing.assert_array_equal(op.gemm_s32(a, threads), want)
    x = RNG.standard_normal((M, K)).astype(np.float32)
    s = np.full(N, 0.01, np.float32)
    np.testing.assert_array_equal(op.linear_dynamic(x, s, None, False, 2**30), op.linear_dynamic(x, s, None, False, 1))
