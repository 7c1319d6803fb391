"""SparseLinear as a drop-in for a pruned nn.Linear."""
import copy
import io
import pickle

import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim.nn import SparseLinear
from nnslim.pruning.masks import apply_mask, is_pruned


def _rel_err(y, ref):
    return ((y - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def _sparse_linear(K, N, density=0.1, bias=True, seed=0):
    torch.manual_seed(seed)
    lin = nn.Linear(K, N, bias=bias)
    with torch.no_grad():
        lin.weight.mul_((torch.rand_like(lin.weight) < density).float())
    return lin


@pytest.mark.parametrize("shape", [(4, 64), (2, 3, 64), (1, 64), (2, 2, 2, 64), (64,), (130, 64)])
def test_matches_linear_any_leading_shape(isa, force_isa, shape):
    force_isa(isa)
    lin = _sparse_linear(64, 48)
    s = SparseLinear.from_dense(lin)
    assert f"kernel={isa}" in repr(s) and "sparsity=" in repr(s)
    x = torch.randn(*shape)
    with torch.no_grad():
        y, ref = s(x), lin(x)
    assert y.shape == ref.shape and y.dtype == torch.float32
    assert _rel_err(y, ref) < 1e-4


def test_pruned_linear_uses_masked_weight():
    lin = nn.Linear(40, 30)
    mask = (torch.rand(30, 40) < 0.2).float()
    apply_mask(lin, mask)
    with torch.no_grad():
        lin.weight_orig.add_(1.0)  # as an optimizer step would: only the mask keeps pruned weights at zero
    assert is_pruned(lin)
    s = SparseLinear.from_dense(lin)
    assert s.nnz == int(mask.sum())
    x = torch.randn(7, 40)
    with torch.no_grad():
        assert _rel_err(s(x), lin(x)) < 1e-5
    assert torch.equal(s.dense_weight(), (lin.weight_orig * mask).detach())


def test_state_dict_round_trip_resizes_nnz():
    s = SparseLinear.from_dense(_sparse_linear(32, 16, density=0.3))
    buf = io.BytesIO()
    torch.save(s.state_dict(), buf)
    buf.seek(0)
    s2 = SparseLinear(32, 16)  # nnz 0 until loaded
    s2.load_state_dict(torch.load(buf))
    x = torch.randn(5, 32)
    with torch.no_grad():
        assert torch.equal(s(x), s2(x))
    sd = s.state_dict()
    assert set(sd) == {"indptr", "indices", "values", "bias"}
    assert sd["indptr"].dtype == torch.int64 and sd["indices"].dtype == torch.int32
    assert sd["values"].dtype == torch.float32


def test_load_of_malformed_csr_fails_clearly():
    s = SparseLinear.from_dense(_sparse_linear(8, 4, density=0.5))
    sd = s.state_dict()
    sd["indices"] = sd["indices"].clone()
    sd["indices"][0] = 99
    s2 = SparseLinear(8, 4)
    s2.load_state_dict(sd)
    with pytest.raises(ValueError, match="indices: .* outside \\[0, 8\\)"), torch.no_grad():
        s2(torch.randn(2, 8))
    bad = SparseLinear(8, 5)
    with pytest.raises(RuntimeError, match="indptr"):
        bad.load_state_dict(s.state_dict())


def test_nnslim_save_load(tmp_path):
    model = nn.Sequential(_sparse_linear(16, 12), nn.ReLU(), _sparse_linear(12, 4, bias=False))
    model[0] = SparseLinear.from_dense(model[0])
    model[2] = SparseLinear.from_dense(model[2])
    nnslim.io.save(model, tmp_path / "m.nnslim")
    fresh = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 4, bias=False))
    nnslim.io.load(tmp_path / "m.nnslim", fresh)
    assert isinstance(fresh[0], SparseLinear) and fresh[2].bias is None
    x = torch.randn(3, 16)
    with torch.no_grad():
        assert torch.equal(model(x), fresh(x))


def test_no_bias_dtypes_noncontiguous_and_empty():
    lin = _sparse_linear(16, 8, bias=False)
    s = SparseLinear.from_dense(lin)
    x = torch.randn(16, 6).t()  # non-contiguous (6, 16)
    with torch.no_grad():
        assert _rel_err(s(x), lin(x)) < 1e-5
        assert s(x.to(torch.bfloat16)).dtype == torch.bfloat16
        assert s(x.double()).dtype == torch.float64
        assert s(torch.empty(0, 16)).shape == (0, 8)
        assert s(torch.empty(2, 0, 16)).shape == (2, 0, 8)


def test_all_zero_layer():
    lin = nn.Linear(10, 5)
    with torch.no_grad():
        lin.weight.zero_()
    s = SparseLinear.from_dense(lin)
    assert s.nnz == 0 and s.sparsity == 1.0
    x = torch.randn(3, 10)
    with torch.no_grad():
        assert torch.equal(s(x), lin.bias.detach().expand(3, 5))


def test_inference_only_and_bad_inputs():
    s = SparseLinear.from_dense(_sparse_linear(8, 4))
    with pytest.raises(RuntimeError, match="inference-only"):
        s(torch.randn(2, 8, requires_grad=True))
    with torch.no_grad():
        s(torch.randn(2, 8, requires_grad=True))  # fine without autograd
        with pytest.raises(ValueError, match="size 8 in dimension -1"):
            s(torch.randn(2, 7))
        with pytest.raises(TypeError, match="floating-point"):
            s(torch.ones(2, 8, dtype=torch.int64))
        with pytest.raises(TypeError, match="torch.Tensor"):
            s([1.0] * 8)
    with pytest.raises(TypeError, match="expects an nn.Linear"):
        SparseLinear.from_dense(nn.Conv2d(1, 1, 1))


def test_inplace_edit_copy_and_pickle():
    lin = _sparse_linear(12, 6, density=0.5)
    s = SparseLinear.from_dense(lin)
    x = torch.randn(4, 12)
    with torch.no_grad():
        y = s(x)
        s.values.mul_(2)  # the operator notices and rebuilds
        assert _rel_err(s(x) - s.bias, 2 * (y - s.bias)) < 1e-6
        s.values.div_(2)
        for clone in (copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
            assert torch.equal(clone(x), y)
        s.values = s.values * 3  # a replaced buffer (same shape) is noticed too
        s.bias = s.bias.clone()
        s.bias.zero_()
        assert _rel_err(s(x), 3 * (y - lin.bias)) < 1e-6


def test_convert_and_run_under_inference_mode():
    lin = _sparse_linear(24, 10)
    x = torch.randn(3, 24)
    with torch.inference_mode():
        s = SparseLinear.from_dense(lin)
        y = s(x)
    with torch.no_grad():
        assert _rel_err(y, lin(x)) < 1e-5
        assert torch.equal(s(x), y)
