"""Sparse 2-D convolution kernels vs F.conv2d (float64) on every ISA path: stride, asymmetric padding,
dilation, rectangular kernels, bias, batches, pointwise; the scalar path equals the reference."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from nnslim._native import C

RTOL = 1e-4


def sparse_weight(rng, shape, density):
    w = rng.standard_normal(shape).astype(np.float32)
    return (w * (rng.random(shape) < density)).astype(np.float32)


def exact_conv(x, w, b, stride, pads, dilation, absolute=False):
    t, bo, l, r = pads
    f = np.abs if absolute else (lambda a: a)
    xt = F.pad(torch.from_numpy(f(x)).double(), (l, r, t, bo))
    bt = None if b is None else torch.from_numpy(f(b)).double()
    return F.conv2d(xt, torch.from_numpy(f(w)).double(), bt, stride=stride, dilation=dilation).numpy()


def check_close(y, x, w, b, stride, pads, dilation):
    exact = exact_conv(x, w, b, stride, pads, dilation)
    scale = exact_conv(x, w, b, stride, pads, dilation, absolute=True)
    assert y.shape == exact.shape and y.dtype == np.float32
    err = np.abs(y - exact)
    assert (err <= RTOL * scale + 1e-30).all(), f"max excess {(err - RTOL * scale).max()}"


def run(w, x, b, stride, pads, dilation, isa, threads=2):
    indptr, indices, values = C.csr_from_dense(w.reshape(w.shape[0], -1))
    op = C.SparseConv2dF32(indptr, indices, values, w.shape, stride, pads, dilation, isa)
    return op.forward(x, b, threads), op


# (batch, cin, cout, H, W, kh, kw, stride, (top, bottom, left, right), dilation)
CASES = [
    (1, 3, 5, 9, 11, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    (2, 4, 6, 10, 7, 3, 2, (2, 1), (0, 1, 2, 0), (1, 2)),     # rectangular, asymmetric, dilated
    (1, 8, 8, 14, 14, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1)),    # pointwise: direct SpMM over NCHW
    (3, 8, 20, 15, 13, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1)),   # strided 1x1
    (1, 8, 8, 6, 5, 1, 1, (1, 1), (1, 0, 0, 2), (1, 1)),      # padded 1x1
    (1, 8, 9, 7, 7, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1)),
    (2, 5, 7, 20, 23, 5, 5, (3, 2), (2, 2, 2, 2), (2, 1)),
    (1, 16, 18, 30, 30, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),  # flat grid over many 64/128-wide tiles
    (1, 3, 4, 16, 70, 1, 7, (1, 3), (0, 0, 3, 3), (1, 1)),
    (1, 2, 3, 1, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1)),
    (2, 300, 9, 1, 1, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1)),    # pointwise on a 1x1 map: gather kernel
    (1, 2, 3, 1, 1, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),      # kernel entirely over padding but one pixel
    (1, 2, 3, 4, 4, 3, 3, (1, 1), (5, 5, 5, 5), (1, 1)),      # padding wider than the image
    (2, 3, 2, 9, 8, 4, 4, (4, 4), (0, 0, 0, 0), (1, 1)),      # stride == kernel (patchify)
    (1, 3, 3, 12, 12, 3, 3, (1, 1), (0, 0, 0, 0), (3, 3)),
]


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_conv2d(isa, case, bias):
    B, cin, cout, H, W, kh, kw, stride, pads, dil = case
    rng = np.random.default_rng(H * 100 + W + kh)
    w = sparse_weight(rng, (cout, cin, kh, kw), 0.3)
    w[0] = 0  # an empty output channel
    x = rng.standard_normal((B, cin, H, W)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32) if bias else None
    for threads in (1, 2):
        y, op = run(w, x, b, stride, pads, dil, isa, threads)
        check_close(y, x, w, b, stride, pads, dil)
    assert op.pointwise == (kh == kw == 1 and stride == (1, 1) and pads == (0, 0, 0, 0))


@pytest.mark.parametrize("case", CASES[::2], ids=[f"case{i}" for i in range(0, len(CASES), 2)])
def test_scalar_path_equals_reference(case):
    B, cin, cout, H, W, kh, kw, stride, pads, dil = case
    rng = np.random.default_rng(0)
    w = sparse_weight(rng, (cout, cin, kh, kw), 0.4)
    x = rng.standard_normal((B, cin, H, W)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    indptr, indices, values = C.csr_from_dense(w.reshape(cout, -1))
    want = C.ref_f32_spconv2d(indptr, indices, values, w.shape, x, b, stride, pads, dil)
    check_close(want, x, w, b, stride, pads, dil)
    y, _ = run(w, x, b, stride, pads, dil, "scalar")
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("density", [0.0, 1.0])
def test_all_zero_and_dense_weights(isa, density):
    rng = np.random.default_rng(1)
    w = sparse_weight(rng, (6, 4, 3, 3), density)
    x = rng.standard_normal((2, 4, 9, 10)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    y, _ = run(w, x, b, (1, 1), (1, 1, 1, 1), (1, 1), isa)
    check_close(y, x, w, b, (1, 1), (1, 1, 1, 1), (1, 1))
    if density == 0.0:
        np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None, None], y.shape))


def test_resnet_layer_shapes(isa):
    rng = np.random.default_rng(2)
    for c, hw in ((64, 56), (256, 14)):
        w = sparse_weight(rng, (c, c, 3, 3), 0.1)
        x = rng.standard_normal((1, c, hw, hw)).astype(np.float32)
        y, _ = run(w, x, None, (1, 1), (1, 1, 1, 1), (1, 1), isa)
        check_close(y, x, w, None, (1, 1), (1, 1, 1, 1), (1, 1))


@pytest.mark.parametrize("batch", [3, 4])
@pytest.mark.parametrize("k", [1, 3])
def test_batches_big_enough_for_threads(isa, batch, k):
    """Large enough for 2 threads: batch 4 splits whole images, batch 3 splits each image's rows."""
    rng = np.random.default_rng(batch)
    w = sparse_weight(rng, (64, 64, k, k), 0.5)
    x = rng.standard_normal((batch, 64, 33, 31)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    pads = (k // 2,) * 4
    y, _ = run(w, x, b, (1, 1), pads, (1, 1), isa, threads=2)
    check_close(y, x, w, b, (1, 1), pads, (1, 1))


def test_new_input_size_rebuilds_offsets(isa):
    rng = np.random.default_rng(3)
    w = sparse_weight(rng, (5, 3, 3, 3), 0.5)
    indptr, indices, values = C.csr_from_dense(w.reshape(5, -1))
    op = C.SparseConv2dF32(indptr, indices, values, w.shape, (2, 1), (1, 1, 0, 2), (1, 1), isa)
    for H, W in ((8, 8), (13, 9), (8, 8)):
        x = rng.standard_normal((1, 3, H, W)).astype(np.float32)
        check_close(op.forward(x), x, w, None, (2, 1), (1, 1, 0, 2), (1, 1))
        assert op.output_size(H, W) == op.forward(x).shape[2:]


@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 2), cin=st.integers(1, 6), cout=st.integers(1, 6), H=st.integers(1, 12),
       W=st.integers(1, 12), kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3),
       sw=st.integers(1, 3), dh=st.integers(1, 2), dw=st.integers(1, 2),
       pads=st.tuples(*[st.integers(0, 3)] * 4), density=st.sampled_from([0.0, 0.2, 0.7, 1.0]),
       seed=st.integers(0, 2**31))
def test_hypothesis_every_path(B, cin, cout, H, W, kh, kw, sh, sw, dh, dw, pads, density, seed):
    if H + pads[0] + pads[1] < dh * (kh - 1) + 1 or W + pads[2] + pads[3] < dw * (kw - 1) + 1:
        return  # kernel larger than the padded input: covered by the error test
    rng = np.random.default_rng(seed)
    w = sparse_weight(rng, (cout, cin, kh, kw), density)
    x = rng.standard_normal((B, cin, H, W)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    for isa in C.cpu_info()["available"]:
        y, _ = run(w, x, b, (sh, sw), pads, (dh, dw), isa, 2)
        check_close(y, x, w, b, (sh, sw), pads, (dh, dw))


def test_bad_arguments():
    w = np.ones((2, 3, 3, 3), np.float32)
    csr = C.csr_from_dense(w.reshape(2, -1))
    op = C.SparseConv2dF32(*csr, w.shape, (1, 1), (0, 0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match="x: expected in_channels"):
        op.forward(np.ones((1, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match="x: expected 4 dimensions"):
        op.forward(np.ones((3, 5, 5), np.float32))
    with pytest.raises(TypeError, match="x: expected dtype float32"):
        op.forward(np.ones((1, 3, 5, 5), np.float64))
    with pytest.raises(ValueError, match="x: expected a C-contiguous"):
        op.forward(np.ones((1, 5, 5, 3), np.float32).transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match="input: padded size 2x5 is smaller than the dilated kernel"):
        op.forward(np.ones((1, 3, 2, 5), np.float32))
    with pytest.raises(ValueError, match="bias"):
        op.forward(np.ones((1, 3, 5, 5), np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="stride"):
        C.SparseConv2dF32(*csr, w.shape, (0, 1), (0, 0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match="padding"):
        C.SparseConv2dF32(*csr, w.shape, (1, 1), (0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match="dilation"):
        C.SparseConv2dF32(*csr, w.shape, (1, 1), (0, 0, 0, 0), (1, 0))
    with pytest.raises(ValueError, match="weight_shape"):
        C.SparseConv2dF32(*csr, (2, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match="indptr: expected rows \\+ 1"):
        C.SparseConv2dF32(*csr, (3, 3, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match="indices: .* outside"):
        C.SparseConv2dF32(*csr, (2, 3, 3, 2), (1, 1), (0, 0, 0, 0), (1, 1))
