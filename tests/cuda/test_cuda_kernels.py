"""The CUDA kernels against CPU references (needs a GPU; skipped otherwise).

Integer results must equal the reference exactly; the fused dequant epilogue and the quantizer use
the CPU reference's float operation order, so they are compared bit for bit too. SpMM (fp32 sums in
a different order) is compared with a tolerance.
"""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn import Int8Linear
from nnslim.nn import _cuda_ops as ops

KERNELS = ["auto", "mma_128x128", "mma_32x32", "dp4a"]


def rand_i8(gen, *shape, lo=-128, hi=127):
    return torch.randint(lo, hi + 1, shape, generator=gen, dtype=torch.int8)


def ref_gemm(a, b):
    return (a.long() @ b.long().t()).int()


def ref_quant(x: np.ndarray):
    """nnslim's reference quantizer (the C++ one when built, else the same rules in numpy)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if _native.has_cpu_kernels():
        return _native.C.qs8_quantize_rows(x, reference=True)
    q = np.zeros(x.shape, np.int8)
    s = np.zeros(x.shape[0], np.float32)
    for m, row in enumerate(x):
        a = np.abs(row)
        if not np.isfinite(row).all():
            s[m] = np.nan
            continue
        amax = a.max() if a.size else np.float32(0)
        if amax < np.float32(1e-30):
            continue
        inv = np.float32(127) / amax
        q[m] = np.clip(np.rint(row * inv), -127, 127).astype(np.int8)
        s[m] = amax / np.float32(127)
    return q, s


def ref_epilogue(acc, a_scale, b_scale, bias, relu):
    """nnslim::ref::dequant_epilogue in float32 numpy (one rounding per operation, like the kernels)."""
    y = acc.numpy().astype(np.float32) * (a_scale.numpy()[:, None] * b_scale.numpy()[None, :])
    y = y + (bias.numpy()[None, :] if bias is not None else np.float32(0))
    if relu:
        y = np.where(y < 0, np.float32(0), y)
    return torch.from_numpy(y.astype(np.float32))


# ---- quantization ---------------------------------------------------------------------------------

@pytest.mark.parametrize("K", [1, 3, 4, 8, 15, 16, 17, 64, 100, 1000, 4096, 5000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_quantize_matches_reference(gpu, K, dtype):
    gen = torch.Generator().manual_seed(K)
    x = torch.randn(10, K, generator=gen) * 10
    x[1] = 0
    x[2, 0] = float("nan")
    x[3, -1] = -float("inf")
    x[4] = 5.0
    x[5] = 1e-31  # below the smallest invertible scale (fp16 / bf16 flush or keep it; either way scale 0)
    x[6] = torch.arange(K) - K / 2  # exact .5 ties after scaling exercise round-half-even
    x = x.to(dtype)
    kp = ops.padded_k(K)
    q, s = ops.quantize_rows_cuda(x.to(gpu), k_pad=kp)
    qr, sr = ref_quant(x.float().numpy())
    q, s = q.cpu(), s.cpu().numpy()
    assert torch.equal(q[:, :K], torch.from_numpy(qr))
    assert not q[:, K:].any()
    np.testing.assert_array_equal(s, sr)  # NaN == NaN here


def test_quantize_unaligned_rows_use_the_scalar_path(gpu):
    x = torch.randn(3 * 37 + 1, device=gpu)[1:].view(3, 37)  # 4-byte offset, odd K
    q, s = ops.quantize_rows_cuda(x)
    qr, sr = ref_quant(x.cpu().numpy())
    assert torch.equal(q.cpu(), torch.from_numpy(qr))
    np.testing.assert_array_equal(s.cpu().numpy(), sr)


def test_quantize_empty(gpu):
    q, s = ops.quantize_rows_cuda(torch.empty(0, 16, device=gpu))
    assert q.shape == (0, 16) and s.shape == (0,)


# ---- int8 GEMM ------------------------------------------------------------------------------------

MMA_SHAPES = [(1, 1, 16), (1, 8, 32), (5, 7, 48), (16, 64, 128), (17, 33, 144), (31, 32, 256),
              (33, 65, 272), (128, 128, 128), (129, 257, 384), (200, 130, 4112), (3, 300, 1024)]


@pytest.mark.parametrize("M,N,K", MMA_SHAPES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_gemm_s32_exact(gpu, kernel, M, N, K):
    gen = torch.Generator().manual_seed(M * 7919 + N * 31 + K)
    a, b = rand_i8(gen, M, K), rand_i8(gen, N, K)
    c, used = ops.qs8_gemm_cuda(a.to(gpu), b.to(gpu), kernel=kernel, return_kernel=True)
    if kernel != "auto":
        assert used == kernel
    assert torch.equal(c.cpu(), ref_gemm(a, b))


@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (3, 5, 7), (17, 9, 100), (65, 70, 1001), (8, 8, 4), (2, 3, 0)])
def test_gemm_odd_k_falls_back_to_dp4a(gpu, M, N, K):
    gen = torch.Generator().manual_seed(K)
    a, b = rand_i8(gen, M, K), rand_i8(gen, N, K)
    c, used = ops.qs8_gemm_cuda(a.to(gpu), b.to(gpu), return_kernel=True)
    assert used == "dp4a"
    assert torch.equal(c.cpu(), ref_gemm(a, b))


@pytest.mark.parametrize("kernel,K", [("mma_128x128", 131056), ("mma_32x32", 131056), ("dp4a", 131071)])
def test_gemm_extremes_near_int32_limit(gpu, kernel, K):
    a = torch.full((3, K), -128, dtype=torch.int8)
    b = torch.full((5, K), -128, dtype=torch.int8)
    b[1] = 127
    c = ops.qs8_gemm_cuda(a.to(gpu), b.to(gpu), kernel=kernel).cpu()
    assert torch.equal(c, ref_gemm(a, b))
    assert int(c[0, 0]) == K * 16384


@pytest.mark.parametrize("out_dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("with_bias,relu", [(True, False), (False, False), (True, True)])
def test_gemm_fused_epilogue_bitwise(gpu, kernel, out_dtype, with_bias, relu):
    gen = torch.Generator().manual_seed(3)
    M, N, K = 45, 77, 160
    a, b = rand_i8(gen, M, K), rand_i8(gen, N, K)
    a_scale = torch.rand(M, generator=gen) * 0.01
    b_scale = torch.rand(N, generator=gen) * 0.02
    bias = torch.randn(N, generator=gen) if with_bias else None
    y = ops.qs8_gemm_cuda(a.to(gpu), b.to(gpu), out_dtype=out_dtype, a_scale=a_scale.to(gpu),
                          b_scale=b_scale.to(gpu), bias=None if bias is None else bias.to(gpu), relu=relu,
                          kernel=kernel)
    want = ref_epilogue(ref_gemm(a, b), a_scale, b_scale, bias, relu).to(out_dtype)
    assert y.dtype == out_dtype
    assert torch.equal(y.cpu(), want)


def test_gemm_misaligned_operands(gpu):
    gen = torch.Generator().manual_seed(5)
    M, N, K = 20, 24, 64
    buf = rand_i8(gen, M * K + 1)
    a = buf.to(gpu)[1:].view(M, K)  # 1-byte offset: no 16-byte loads possible
    b = rand_i8(gen, N, K)
    c, used = ops.qs8_gemm_cuda(a, b.to(gpu), return_kernel=True)
    assert used == "dp4a"
    assert torch.equal(c.cpu(), ref_gemm(buf[1:].view(M, K), b))
    with pytest.raises(ValueError, match="16-byte aligned"):
        ops.qs8_gemm_cuda(a, b.to(gpu), kernel="mma_32x32")


def test_gemm_odd_output_stride_and_fp16_pairs(gpu):
    # N odd: the last column of every row is stored on its own; the pairs before it as vectors.
    gen = torch.Generator().manual_seed(6)
    a, b = rand_i8(gen, 9, 32), rand_i8(gen, 13, 32)
    for kernel in KERNELS:
        assert torch.equal(ops.qs8_gemm_cuda(a.to(gpu), b.to(gpu), kernel=kernel).cpu(), ref_gemm(a, b))


@pytest.mark.parametrize("kernel,M", [("mma_32x32", 65535 * 32 + 40), ("dp4a", 65535 * 64 + 3)])
def test_gemm_more_row_tiles_than_one_grid(gpu, kernel, M):
    # More row tiles than grid.y allows: covered by several launches.
    gen = torch.Generator().manual_seed(7)
    K = 16 if kernel.startswith("mma") else 4
    a, b = rand_i8(gen, M, K), rand_i8(gen, 3, K)
    c = ops.qs8_gemm_cuda(a.to(gpu), b.to(gpu), kernel=kernel).cpu()
    assert torch.equal(c, ref_gemm(a, b))


def test_gemm_operand_checks_on_gpu(gpu):
    a = torch.zeros(4, 32, dtype=torch.int8, device=gpu)
    with pytest.raises(ValueError, match="K differs"):
        ops.qs8_gemm_cuda(a, torch.zeros(4, 16, dtype=torch.int8, device=gpu))
    with pytest.raises(ValueError, match="a_scale"):
        ops.qs8_gemm_cuda(a, a, out_dtype=torch.float32)
    with pytest.raises(ValueError, match="a_scale: expected shape"):
        ops.qs8_gemm_cuda(a, a, out_dtype=torch.float32, a_scale=torch.ones(3, device=gpu),
                          b_scale=torch.ones(4, device=gpu))
    with pytest.raises(ValueError, match="b: expected a CUDA tensor"):
        ops.qs8_gemm_cuda(a, a.cpu())
    with pytest.raises(ValueError, match="raw accumulator"):
        ops.qs8_gemm_cuda(a, a, bias=torch.ones(4, device=gpu))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_gemm_mixed_devices_rejected(gpu):
    a = torch.zeros(4, 32, dtype=torch.int8, device="cuda:0")
    with pytest.raises(ValueError, match="same device"):
        ops.qs8_gemm_cuda(a, a.to("cuda:1"))


def test_gemm_runs_on_the_tensors_device_and_stream(gpu):
    gen = torch.Generator().manual_seed(8)
    a, b = rand_i8(gen, 64, 128), rand_i8(gen, 64, 128)
    s = torch.cuda.Stream(device=gpu)
    with torch.cuda.stream(s):
        c = ops.qs8_gemm_cuda(a.to(gpu), b.to(gpu))
    s.synchronize()
    assert torch.equal(c.cpu(), ref_gemm(a, b))


# ---- Int8Linear on CUDA ---------------------------------------------------------------------------

@pytest.mark.parametrize("in_f,out_f", [(16, 8), (20, 7), (64, 48), (100, 33), (768, 512)])
@pytest.mark.parametrize("shape", [(1,), (4,), (2, 3), (130,)])
def test_int8_linear_cuda_equals_cpu_bitwise(gpu, in_f, out_f, shape):
    torch.manual_seed(in_f + out_f)
    q = Int8Linear.from_float(nn.Linear(in_f, out_f))
    x = torch.randn(*shape, in_f)
    with torch.no_grad():
        y_cpu = q(x)
        y_gpu = copy.deepcopy(q).to(gpu)(x.to(gpu))
    assert y_gpu.device == x.to(gpu).device and y_gpu.dtype == torch.float32
    assert torch.equal(y_gpu.cpu(), y_cpu)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_int8_linear_cuda_other_dtypes(gpu, dtype):
    torch.manual_seed(1)
    q = Int8Linear.from_float(nn.Linear(96, 40))
    x = torch.randn(7, 96).to(dtype)
    with torch.no_grad():
        y_cpu = q(x)
        y_gpu = copy.deepcopy(q).to(gpu)(x.to(gpu))
    assert y_gpu.dtype == dtype
    assert torch.equal(y_gpu.cpu(), y_cpu)


def test_int8_linear_cuda_cpu_buffers_no_bias_noncontiguous_empty(gpu):
    torch.manual_seed(2)
    q = Int8Linear.from_float(nn.Linear(40, 24, bias=False))  # buffers stay on the CPU
    x = torch.randn(40, 6).t()
    with torch.no_grad():
        assert torch.equal(q(x.to(gpu)).cpu(), q(x))
        assert q(torch.empty(0, 40, device=gpu)).shape == (0, 24)
        # reload: the cached device copy must follow the new weights
        q.load_state_dict(Int8Linear.from_float(nn.Linear(40, 24, bias=False)).state_dict())
        assert torch.equal(q(x.to(gpu)).cpu(), q(x))


def test_int8_linear_cuda_long_k_chunks_like_cpu(gpu):
    torch.manual_seed(3)
    q = Int8Linear.from_float(nn.Linear(140000, 3))
    x = torch.randn(2, 140000)
    with torch.no_grad():
        assert torch.equal(q(x.to(gpu)).cpu(), q(x))


def test_int8_linear_cuda_nan_rows_propagate(gpu):
    q = Int8Linear.from_float(nn.Linear(32, 4)).to(gpu)
    x = torch.randn(3, 32, device=gpu)
    x[1, 5] = float("nan")
    with torch.no_grad():
        y = q(x)
    assert torch.isnan(y[1]).all() and torch.isfinite(y[[0, 2]]).all()


# ---- CSR SpMM -------------------------------------------------------------------------------------

def make_csr(n, k, density, gen):
    w = torch.randn(n, k, generator=gen) * (torch.rand(n, k, generator=gen) < density)
    w[1] = 0                       # an empty row
    if n > 3:
        w[3] = torch.randn(k, generator=gen)  # a dense row: many 32-nonzero chunks
    csr = w.to_sparse_csr()
    return w, csr.crow_indices().int(), csr.col_indices().int(), csr.values().float()


@pytest.mark.parametrize("M", [1, 2, 3, 4, 5, 8, 16, 33, 128, 129, 300])
@pytest.mark.parametrize("with_bias", [True, False])
def test_spmm_matches_dense(gpu, M, with_bias):
    gen = torch.Generator().manual_seed(M)
    n, k = 70, 90
    w, ip, ix, vals = make_csr(n, k, 0.1, gen)
    x = torch.randn(M, k, generator=gen)
    bias = torch.randn(n, generator=gen) if with_bias else None
    ref = x.double() @ w.double().t() + (bias.double() if with_bias else 0)
    dev = [t.to(gpu) for t in (ip, ix, vals)]
    order = ops.csr_row_order(dev[0])
    y = ops.spmm_csr_cuda(*dev, x.to(gpu), None if bias is None else bias.to(gpu), row_order=order)
    assert y.shape == (M, n)
    torch.testing.assert_close(y.cpu().double(), ref, rtol=1e-5, atol=1e-5)
    # The row order changes which warp takes a row, not the arithmetic of the row.
    y2 = ops.spmm_csr_cuda(*dev, x.to(gpu), None if bias is None else bias.to(gpu))
    assert torch.equal(y, y2)


def test_spmm_empty_and_all_zero(gpu):
    ip = torch.zeros(5, dtype=torch.int32, device=gpu)
    ix = torch.zeros(0, dtype=torch.int32, device=gpu)
    vals = torch.zeros(0, device=gpu)
    bias = torch.arange(4.0, device=gpu)
    y = ops.spmm_csr_cuda(ip, ix, vals, torch.randn(6, 10, device=gpu), bias)
    assert torch.equal(y.cpu(), bias.cpu().expand(6, 4))
    assert ops.spmm_csr_cuda(ip, ix, vals, torch.empty(0, 10, device=gpu)).shape == (0, 4)


def test_spmm_rejects_bad_structure_before_launch(gpu):
    ip = torch.tensor([0, 1, 2], dtype=torch.int32, device=gpu)
    ix = torch.tensor([0, 12], dtype=torch.int32, device=gpu)
    with pytest.raises(ValueError, match="column indices"):
        ops.spmm_csr_cuda(ip, ix, torch.ones(2, device=gpu), torch.randn(3, 10, device=gpu))
    with pytest.raises(TypeError, match="indices: expected dtype int32"):
        ops.spmm_csr_cuda(ip, ix.long(), torch.ones(2, device=gpu), torch.randn(3, 10, device=gpu))


def test_spmm_kernel_skips_out_of_range_indices(gpu):
    # validate=False lets a corrupt structure reach the kernel: it must skip, not fault.
    ip = torch.tensor([0, 2, 3], dtype=torch.int32, device=gpu)
    ix = torch.tensor([0, 1 << 30, -5], dtype=torch.int32, device=gpu)
    y = ops.spmm_csr_cuda(ip, ix, torch.ones(3, device=gpu), torch.ones(4, 10, device=gpu), validate=False)
    torch.cuda.synchronize()
    assert torch.equal(y.cpu(), torch.tensor([[1.0, 0.0]] * 4))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_sparse_linear_cuda(gpu, dtype):
    gen = torch.Generator().manual_seed(11)
    w, ip, ix, vals = make_csr(50, 64, 0.2, gen)
    bias = torch.randn(50, generator=gen)
    x = torch.randn(2, 3, 64, generator=gen).to(dtype)
    args = [t.to(gpu) for t in (ip, ix, vals, bias)]
    y = ops.sparse_linear_cuda(*args, x.to(gpu))
    assert y.shape == (2, 3, 50) and y.dtype == dtype
    ref = (x.double() @ w.double().t() + bias.double()).to(dtype)
    tol = 1e-5 if dtype == torch.float32 else 2e-3
    torch.testing.assert_close(y.cpu(), ref, rtol=tol, atol=tol)
    # second call: structure verdict and row order come from the cache
    assert torch.equal(ops.sparse_linear_cuda(*args, x.to(gpu)), y)


def test_sparse_linear_cuda_portable_buffers(gpu):
    # SparseLinear keeps int64 indptr and may keep its buffers on the CPU: converted and cached.
    gen = torch.Generator().manual_seed(12)
    w, ip, ix, vals = make_csr(40, 48, 0.3, gen)
    x = torch.randn(5, 48, generator=gen)
    y = ops.sparse_linear_cuda(ip.long(), ix, vals, None, x.to(gpu))
    torch.testing.assert_close(y.cpu().double(), x.double() @ w.double().t(), rtol=1e-5, atol=1e-5)
    vals.mul_(2)  # in-place edit of a buffer: the device copy follows
    y2 = ops.sparse_linear_cuda(ip.long(), ix, vals, None, x.to(gpu))
    torch.testing.assert_close(y2.cpu().double(), 2 * (x.double() @ w.double().t()), rtol=1e-5, atol=1e-5)
