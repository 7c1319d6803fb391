"""The Python side of the CUDA path (nnslim.nn._cuda_ops), on the CPU: tensors that must not reach
a kernel (host memory, wrong dtype, non-contiguous, mixed devices) raise clear errors and never call
nnslim._cuda; weight padding and caching; CSR validation and the row swizzle."""
import pytest
import torch
import torch.nn as nn

from nnslim.nn import Int8Linear
from nnslim.nn import _cuda_ops as ops


def i8(*shape):
    return torch.zeros(*shape, dtype=torch.int8)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: ops.qs8_gemm_cuda(i8(4, 32), i8(8, 32)), ValueError, "a: expected a CUDA tensor, got one on cpu"),
    (lambda: ops.qs8_gemm_cuda(torch.zeros(4, 32), i8(8, 32)), TypeError, "a: expected dtype int8, got float32"),
    (lambda: ops.qs8_gemm_cuda(i8(32, 4).t(), i8(8, 32)), ValueError, "a: expected a contiguous tensor"),
    (lambda: ops.qs8_gemm_cuda(i8(4, 32, 1), i8(8, 32)), ValueError, "a: expected 2 dimensions"),
    (lambda: ops.qs8_gemm_cuda("a", i8(8, 32)), TypeError, "a: expected a torch.Tensor"),
    (lambda: ops.quantize_rows_cuda(torch.zeros(4, 8)), ValueError, "x: expected a CUDA tensor"),
    (lambda: ops.quantize_rows_cuda(torch.zeros(4, 8, dtype=torch.float64)), TypeError, "x: expected dtype"),
    (lambda: ops.spmm_csr_cuda(torch.zeros(3, dtype=torch.int32), torch.zeros(0, dtype=torch.int32),
                               torch.zeros(0), torch.zeros(2, 4)), ValueError, "x: expected a CUDA tensor"),
    (lambda: ops.spmm_csr_cuda(torch.zeros(3, dtype=torch.int32), torch.zeros(0, dtype=torch.int32),
                               torch.zeros(0), torch.zeros(2, 4).t()), ValueError, "x: expected a contiguous"),
    (lambda: ops.sparse_linear_cuda(torch.zeros(3, dtype=torch.int32), torch.zeros(0, dtype=torch.int32),
                                    torch.zeros(0), None, torch.zeros(2, 4)), ValueError, "runs on cpu and cuda"),
])
def test_bad_operands_never_reach_a_kernel(fake_cuda, call, exc, match):
    with pytest.raises(exc, match=match):
        call()
    assert fake_cuda.calls == []


def test_same_device_check():
    a, b = torch.zeros(2), torch.zeros(2, device="meta")
    assert ops.check_same_device([("a", a), ("none", None), ("c", torch.ones(1))]) == torch.device("cpu")
    with pytest.raises(ValueError, match="b is on meta but a is on cpu"):
        ops.check_same_device([("a", a), ("b", b)])


def test_int8_linear_refuses_other_devices(fake_cuda):
    q = Int8Linear.from_float(nn.Linear(16, 8))
    with torch.no_grad(), pytest.raises(ValueError, match="runs on cpu and cuda"):
        q(torch.zeros(2, 16, device="meta"))
    assert fake_cuda.calls == []


def test_padding_is_exact_and_zero_filled():
    assert [ops.padded_k(k) for k in (1, 15, 16, 17, 4096, 4100)] == [16, 16, 16, 32, 4096, 4112]
    w = torch.randint(-128, 128, (5, 20), dtype=torch.int8)
    p = ops.pad_weight_k(w, 32)
    assert p.shape == (5, 32) and p.is_contiguous()
    assert torch.equal(p[:, :20], w) and not p[:, 20:].any()
    a = torch.randint(-128, 128, (3, 20), dtype=torch.int8)
    ap = torch.nn.functional.pad(a, (0, 12))
    assert torch.equal(ap.long() @ p.long().t(), a.long() @ w.long().t())
    assert ops.pad_weight_k(w, 20).data_ptr() == w.data_ptr()
    with pytest.raises(ValueError):
        ops.pad_weight_k(w, 16)


def test_weight_cache_reuses_and_invalidates():
    # The cache logic is device-agnostic: exercised here with "cpu" as the target device.
    cpu = torch.device("cpu")
    q = Int8Linear.from_float(nn.Linear(20, 6))        # K = 20: needs a padded copy
    w1, s1, b1, kp = ops.int8_linear_device_weights(q, cpu)
    assert kp == 32 and w1.shape == (6, 32)
    assert ops.int8_linear_device_weights(q, cpu)[0] is w1          # cached
    q.load_state_dict(Int8Linear.from_float(nn.Linear(20, 6)).state_dict())
    w2 = ops.int8_linear_device_weights(q, cpu)[0]
    assert w2 is not w1 and torch.equal(w2[:, :20], q.weight_int8)   # in-place update seen
    q.weight_int8.add_(1)
    assert torch.equal(ops.int8_linear_device_weights(q, cpu)[0][:, :20], q.weight_int8)

    q16 = Int8Linear.from_float(nn.Linear(32, 6))       # K % 16 == 0, buffers already there: no copy
    w, s, b, kp = ops.int8_linear_device_weights(q16, cpu)
    assert kp == 32 and w is q16.weight_int8 and s is q16.weight_scale and b is q16.bias


def test_weight_cache_dies_with_the_module():
    import gc
    q = Int8Linear.from_float(nn.Linear(20, 6))
    ops.int8_linear_device_weights(q, torch.device("cpu"))
    n = len(ops._weight_cache)
    del q
    gc.collect()
    assert len(ops._weight_cache) == n - 1


def test_csr_validation():
    ip = torch.tensor([0, 2, 2, 5], dtype=torch.int32)
    ix = torch.tensor([0, 3, 1, 2, 3], dtype=torch.int32)
    ops.validate_csr(ip, ix, 4)
    with pytest.raises(ValueError, match=r"indices: column indices must lie in \[0, 3\)"):
        ops.validate_csr(ip, ix, 3)
    with pytest.raises(ValueError, match="indptr\\[0\\] == 0"):
        ops.validate_csr(torch.tensor([1, 2, 2, 5], dtype=torch.int32), ix, 4)
    with pytest.raises(ValueError, match="indptr\\[-1\\] == nnz"):
        ops.validate_csr(torch.tensor([0, 2, 2, 4], dtype=torch.int32), ix, 4)
    with pytest.raises(ValueError, match="non-decreasing"):
        ops.validate_csr(torch.tensor([0, 3, 2, 5], dtype=torch.int32), ix, 4)
    with pytest.raises(ValueError, match="indices: column indices"):
        ops.validate_csr(ip, torch.tensor([0, 3, -1, 2, 3], dtype=torch.int32), 4)


def test_row_order_sorts_by_nnz_stably():
    lengths = torch.tensor([3, 0, 5, 3, 1, 5, 0])
    ip = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)]).int()
    order = ops.csr_row_order(ip)
    assert order.dtype == torch.int32
    assert order.tolist() == [2, 5, 0, 3, 4, 1, 6]
    assert sorted(order.tolist()) == list(range(7))


def _csr_buffers():
    # SparseLinear's portable form: int64 indptr, int32 indices, float32 values.
    # W = [[0, 2, 0], [0, 0, 0], [1, 0, 3], [4, 5, 6]]
    return (torch.tensor([0, 1, 1, 3, 6]), torch.tensor([1, 0, 2, 0, 1, 2], dtype=torch.int32),
            torch.tensor([2.0, 1.0, 3.0, 4.0, 5.0, 6.0]), torch.arange(4.0))


def test_sparse_operands_convert_cache_and_invalidate():
    cpu = torch.device("cpu")
    ip, ix, vals, bias = _csr_buffers()
    assert ip.dtype == torch.int64
    ip32, ix32, v, b, order = ops.sparse_device_operands(ip, ix, vals, bias, cpu, 3)
    assert ip32.dtype == torch.int32 and torch.equal(ip32.long(), ip)
    assert order.tolist() == [3, 2, 0, 1]
    assert ops.sparse_device_operands(ip, ix, vals, bias, cpu, 3)[0] is ip32   # cached
    vals.mul_(2)                                                             # in-place update: rebuilt
    assert torch.equal(ops.sparse_device_operands(ip, ix, vals, bias, cpu, 3)[2], vals)
    with pytest.raises(ValueError, match="column indices"):
        ops.sparse_device_operands(ip, ix, vals, bias, cpu, 2)               # K too small for the indices


@pytest.mark.parametrize("mutate,exc,match", [
    (lambda b: b.__setitem__(2, b[2].double()), TypeError, "values: expected dtype float32"),
    (lambda b: b.__setitem__(1, b[1][:-1]), ValueError, "same length"),
    (lambda b: b.__setitem__(3, torch.zeros(3)), ValueError, r"bias: expected shape \(4,\)"),
    (lambda b: b.__setitem__(0, b[0].float()), TypeError, "indptr: expected dtype int32 or int64"),
    (lambda b: b.__setitem__(1, b[1].view(1, -1)), ValueError, "indices: expected 1 dimension"),
])
def test_sparse_operands_reject(mutate, exc, match):
    bufs = list(_csr_buffers())
    mutate(bufs)
    with pytest.raises(exc, match=match):
        ops.sparse_device_operands(*bufs, torch.device("cpu"), 3)
