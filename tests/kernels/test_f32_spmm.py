"""f32 CSR SpMM (y = x @ W.T + b): every ISA path matches the dense product within 1e-4 of the
accumulated magnitude, the scalar path equals the reference bit for bit, and malformed CSR arrays
are refused with errors that name the argument."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nnslim._native import C

RTOL = 1e-4


def sparse_weight(rng, N, K, density, empty_rows=()):
    w = rng.standard_normal((N, K)).astype(np.float32)
    w *= rng.random((N, K)) < density
    for r in empty_rows:
        if r < N:
            w[r] = 0
    return w


def check_close(y, x, w, b=None):
    """|y - exact| <= RTOL * (|x| @ |w|.T + |b|): relative to what the sum accumulates."""
    exact = x.astype(np.float64) @ w.astype(np.float64).T
    scale = np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64).T
    if b is not None:
        exact += b
        scale += np.abs(b)
    assert y.shape == exact.shape and y.dtype == np.float32
    err = np.abs(y - exact)
    assert (err <= RTOL * scale + 1e-30).all(), f"max excess {(err - RTOL * scale).max()}"


def run(w, x, b, isa, threads=2, format="auto"):
    indptr, indices, values = C.csr_from_dense(w)
    op = C.SparseLinearF32(indptr, indices, values, w.shape, isa, format)
    return op.forward(x, b, threads)


# M straddles the 16/64/128-row tiles, N the 16-row transpose groups, K the 16-column pack blocks.
SHAPES = [(1, 1, 1), (1, 7, 3), (3, 5, 7), (15, 16, 17), (16, 33, 64), (17, 31, 65), (63, 48, 100),
          (64, 64, 64), (65, 17, 130), (127, 40, 31), (128, 20, 20), (129, 70, 257), (300, 9, 5),
          (1, 50, 1000), (2, 50, 1000)]  # one row: the gather kernel, over long rows


@pytest.mark.parametrize("M,N,K", SHAPES)
@pytest.mark.parametrize("density", [0.1, 0.5])
@pytest.mark.parametrize("format", ["auto", "csr", "4x1"])
def test_matches_dense(isa, M, N, K, density, format):
    rng = np.random.default_rng(M * 7919 + N * 31 + K)
    w = sparse_weight(rng, N, K, density, empty_rows=(0, N // 2))
    x = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    for threads in (1, 2, 3):
        check_close(run(w, x, b, isa, threads, format), x, w, b)
    check_close(run(w, x, None, isa, 2, format), x, w)


def block_weight(rng, N, K, block_density):
    """A weight pruned in 4x1 blocks (4 consecutive output rows x 1 input column)."""
    keep = np.repeat(rng.random(((N + 3) // 4, K)) < block_density, 4, axis=0)[:N]
    return rng.standard_normal((N, K)).astype(np.float32) * keep


@pytest.mark.parametrize("M,N,K", [(2, 5, 3), (16, 4, 16), (17, 13, 37), (33, 30, 100), (130, 259, 515)])
def test_block_kernel_on_4x1_pruned_weights(isa, M, N, K):
    rng = np.random.default_rng(M + N + K)
    w = block_weight(rng, N, K, 0.3)
    x = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    indptr, indices, values = C.csr_from_dense(w)
    op = C.SparseLinearF32(indptr, indices, values, w.shape, isa)
    assert op.blocked and op.kernel.startswith("f32-bspmm 4x1")  # chosen by itself: the blocks are full
    for threads in (1, 2):
        check_close(op.forward(x, b, threads), x, w, b)
    if isa == "scalar":  # the scalar block kernel adds in the reference's order (zeros in blocks add 0)
        np.testing.assert_array_equal(op.forward(x, b, 1), C.ref_f32_spmm(indptr, indices, values, w.shape, x, b))


def test_format_choice_and_bad_format():
    rng = np.random.default_rng(0)
    unstructured = sparse_weight(rng, 64, 64, 0.1)  # 4x1 blocks ~29% full: CSR
    assert not C.SparseLinearF32(*C.csr_from_dense(unstructured), (64, 64)).blocked
    assert C.SparseLinearF32(*C.csr_from_dense(unstructured), (64, 64), None, "4x1").blocked
    blocks = block_weight(rng, 64, 64, 0.1)
    assert C.SparseLinearF32(*C.csr_from_dense(blocks), (64, 64)).blocked
    assert not C.SparseLinearF32(*C.csr_from_dense(blocks), (64, 64), None, "csr").blocked
    with pytest.raises(ValueError, match="format: expected 'auto', 'csr' or '4x1'"):
        C.SparseLinearF32(*C.csr_from_dense(blocks), (64, 64), None, "8x1")


@pytest.mark.parametrize("M,N,K", SHAPES[::3])
def test_scalar_path_equals_reference(M, N, K):
    rng = np.random.default_rng(K)
    w = sparse_weight(rng, N, K, 0.3)
    x = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    indptr, indices, values = C.csr_from_dense(w)
    want = C.ref_f32_spmm(indptr, indices, values, w.shape, x, b)
    np.testing.assert_array_equal(run(w, x, b, "scalar"), want)
    check_close(want, x, w, b)


def test_large_layer_all_threads(isa):
    rng = np.random.default_rng(3)
    w = sparse_weight(rng, 768, 768, 0.1)
    x = rng.standard_normal((200, 768)).astype(np.float32)
    b = rng.standard_normal(768).astype(np.float32)
    check_close(run(w, x, b, isa, 2), x, w, b)


@pytest.mark.parametrize("density", [0.0, 1.0])
def test_all_zero_and_fully_dense(isa, density):
    rng = np.random.default_rng(5)
    w = sparse_weight(rng, 37, 70, density)
    x = rng.standard_normal((90, 70)).astype(np.float32)
    b = rng.standard_normal(37).astype(np.float32)
    y = run(w, x, b, isa)
    check_close(y, x, w, b)
    if density == 0.0:
        np.testing.assert_array_equal(y, np.broadcast_to(b, y.shape))
        np.testing.assert_array_equal(run(w, x, None, isa), np.zeros_like(y))


def test_single_nonzero(isa):
    w = np.zeros((20, 30), np.float32)
    w[13, 29] = 2.5
    x = np.arange(77 * 30, dtype=np.float32).reshape(77, 30) / 100
    y = run(w, x, None, isa)
    want = np.zeros((77, 20), np.float32)
    want[:, 13] = 2.5 * x[:, 29]
    np.testing.assert_array_equal(y, want)


def test_empty_batch_and_nan_propagation(isa):
    w = np.array([[1.0, 0.0], [0.0, np.nan]], np.float32)
    assert run(w, np.zeros((0, 2), np.float32), None, isa).shape == (0, 2)
    y = run(w, np.ones((3, 2), np.float32), None, isa)
    assert (y[:, 0] == 1).all() and np.isnan(y[:, 1]).all()


@settings(max_examples=30, deadline=None)
@given(M=st.integers(1, 150), N=st.integers(1, 50), K=st.integers(1, 120), seed=st.integers(0, 2**31),
       density=st.sampled_from([0.0, 0.02, 0.1, 0.5, 0.9, 1.0]), bias=st.booleans(),
       threads=st.integers(1, 3))
def test_hypothesis_every_path(M, N, K, seed, density, bias, threads):
    rng = np.random.default_rng(seed)
    w = sparse_weight(rng, N, K, density, empty_rows=rng.integers(0, N, 2))
    x = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32) if bias else None
    for isa in C.cpu_info()["available"]:
        for format in ("csr", "4x1"):
            check_close(run(w, x, b, isa, threads, format), x, w, b)


# ---- the CSR builder and validator -------------------------------------------------------------


def test_csr_from_dense_layout():
    w = np.array([[0, 1.5, 0, -0.0], [0, 0, 0, 0], [2, 0, np.nan, 3]], np.float32)
    indptr, indices, values = C.csr_from_dense(w)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32 and values.dtype == np.float32
    np.testing.assert_array_equal(indptr, [0, 1, 1, 4])
    np.testing.assert_array_equal(indices, [1, 0, 2, 3])
    np.testing.assert_array_equal(values, [1.5, 2, np.nan, 3])  # -0.0 dropped, NaN kept


def test_validate_accepts_int32_indptr_and_int64_indices():
    indptr, indices, values = C.csr_validate(np.array([0, 1, 2], np.int32), np.array([1, 0], np.int64),
                                             np.array([1, 2], np.float32), (2, 2))
    assert indptr.dtype == np.int64 and indices.dtype == np.int32


GOOD = dict(indptr=np.array([0, 2, 2, 3], np.int64), indices=np.array([0, 3, 1], np.int32),
            values=np.array([1, 2, 3], np.float32))

BAD = [
    ("indptr", dict(indptr=np.array([0, 2, 3], np.int64)), ValueError, "indptr: expected rows \\+ 1"),
    ("indptr", dict(indptr=np.array([1, 2, 2, 3], np.int64)), ValueError, "indptr\\[0\\] must be 0"),
    ("indptr", dict(indptr=np.array([0, 2, 1, 3], np.int64)), ValueError, "non-decreasing"),
    ("indptr", dict(indptr=np.array([0, 2, 2, 2], np.int64)), ValueError, "indices: expected indptr\\[-1\\]"),
    ("indptr", dict(indptr=np.array([0, 2, 2, 4], np.int64)), ValueError, "indices: expected indptr\\[-1\\]"),
    ("indptr", dict(indptr=np.array([0.0, 2, 2, 3])), TypeError, "indptr: expected dtype int32 or int64"),
    ("indptr", dict(indptr=np.zeros((2, 2), np.int64)), ValueError, "indptr: expected 1 dimension"),
    ("indptr", dict(indptr=[0, 2, 2, 3]), TypeError, "indptr: expected a numpy array"),
    ("indices", dict(indices=np.array([0, 4, 1], np.int32)), ValueError, "indices: .* outside \\[0, 4\\)"),
    ("indices", dict(indices=np.array([0, -1, 1], np.int32)), ValueError, "indices: .* outside"),
    ("indices", dict(indices=np.array([3, 0, 1], np.int32)), ValueError, "strictly increasing"),
    ("indices", dict(indices=np.array([3, 3, 1], np.int32)), ValueError, "strictly increasing"),
    ("indices", dict(indices=np.array([0, 2**40, 1], np.int64)), ValueError, "indices: .* outside"),
    ("values", dict(values=np.array([1, 2], np.float32)), ValueError, "values: expected as many"),
    ("values", dict(values=np.array([1, 2, 3], np.float64)), TypeError, "values: expected dtype float32"),
    ("values", dict(values=np.array([1, 0, 2, 0, 3], np.float32)[::2]), ValueError, "values: expected a C-contig"),
]


@pytest.mark.parametrize("arg,override,exc,match", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_malformed_csr_is_refused(arg, override, exc, match):
    kw = {**GOOD, **override}
    with pytest.raises(exc, match=match):
        C.csr_validate(kw["indptr"], kw["indices"], kw["values"], (3, 4))
    with pytest.raises(exc, match=match):
        C.SparseLinearF32(kw["indptr"], kw["indices"], kw["values"], (3, 4))
    C.csr_validate(GOOD["indptr"], GOOD["indices"], GOOD["values"], (3, 4))


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(0, 5), cols=st.integers(0, 5),
       indptr=st.lists(st.integers(-3, 8), min_size=0, max_size=7),
       indices=st.lists(st.integers(-2, 6), min_size=0, max_size=8), nvalues=st.integers(0, 8))
def test_fuzzed_csr_never_crashes(rows, cols, indptr, indices, nvalues):
    """Random arrays: either a clean ValueError/TypeError or a CSR whose product matches dense."""
    args = (np.array(indptr, np.int64), np.array(indices, np.int32), np.ones(nvalues, np.float32))
    try:
        op = C.SparseLinearF32(*args, (rows, cols))
    except (ValueError, TypeError):
        return
    dense = np.zeros((rows, cols), np.float32)
    for r in range(rows):
        for p in range(indptr[r], indptr[r + 1]):
            dense[r, indices[p]] = 1
    x = np.ones((3, cols), np.float32)
    np.testing.assert_array_equal(op.forward(x), x @ dense.T)


def test_forward_argument_errors():
    rng = np.random.default_rng(0)
    op = C.SparseLinearF32(*C.csr_from_dense(sparse_weight(rng, 4, 6, 0.5)), (4, 6))
    x = np.ones((2, 6), np.float32)
    with pytest.raises(ValueError, match="x: expected in_features"):
        op.forward(np.ones((2, 5), np.float32))
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        op.forward(x.astype(np.float64))
    with pytest.raises(ValueError, match="x: expected a C-contiguous"):
        op.forward(np.ones((6, 2), np.float32).T)
    with pytest.raises(ValueError, match="x: expected 2 dimensions"):
        op.forward(np.ones(6, np.float32))
    with pytest.raises(ValueError, match="bias: expected out features"):
        op.forward(x, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="num_threads"):
        op.forward(x, None, 0)
    with pytest.raises(ValueError, match="isa: 'sse9'"):
        C.SparseLinearF32(*C.csr_from_dense(np.ones((1, 1), np.float32)), (1, 1), "sse9")
    with pytest.raises(ValueError, match="shape\\[0\\]"):
        C.SparseLinearF32(*C.csr_from_dense(np.ones((1, 1), np.float32)), (-1, 1))


def test_partition_balances_nonzeros():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 200, 500)
    counts[:50] = 0
    counts[400:] = 1000  # a heavy tail: row ranges must follow the nonzeros, not the row count
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    for parts in (1, 2, 3, 7):
        for align in (1, 16):
            b = C.partition_rows_by_nnz(indptr, parts, align)
            assert b[0] == 0 and b[-1] == 500 and len(b) == parts + 1
            assert all(b[i] <= b[i + 1] for i in range(parts))
            assert all(v % align == 0 for v in b[:-1])
            work = [indptr[b[i + 1]] - indptr[b[i]] + 4 * (b[i + 1] - b[i]) for i in range(parts)]
            slack = (align + 1) * (counts.max() + 4)
            assert max(work) <= sum(work) / parts + slack
