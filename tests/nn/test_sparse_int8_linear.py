"""SparseInt8Linear: a pruned Linear as int8 4x1 blocks computes exactly what the dense Int8Linear
computes on the same weights, stores only its nonzero blocks, and survives state_dict / save / load."""
import copy
import pickle

import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim.nn import Int8Linear, SparseInt8Linear


def _pruned_linear(K=96, N=70, sparsity=0.8, seed=0, bias=True):
    torch.manual_seed(seed)
    lin = nn.Linear(K, N, bias=bias)
    nnslim.prune(lin, nnslim.PruneConfig(sparsity=sparsity, pattern="4x1"))
    return lin


def test_equals_dense_int8_dynamic_and_static():
    lin = _pruned_linear()
    x = torch.randn(3, 5, 96)
    dense, sparse = Int8Linear.from_float(lin), SparseInt8Linear.from_dense(lin)
    with torch.no_grad():
        assert torch.equal(sparse(x), dense(x))
        assert sparse(x).shape == (3, 5, 70)
    dense_s = Int8Linear.from_float(lin, input_qparams=(0.02, 7))
    sparse_s = SparseInt8Linear.from_dense(lin, input_qparams=(0.02, 7))
    with torch.no_grad():
        assert torch.equal(sparse_s(x), dense_s(x))
    # from an Int8Linear: its weights, scales and activation mode as they are
    from_q = SparseInt8Linear.from_dense(dense_s)
    assert from_q.static
    with torch.no_grad():
        assert torch.equal(from_q(x), dense_s(x))


def test_stores_only_nonzero_blocks():
    lin = _pruned_linear(sparsity=0.9)
    m = SparseInt8Linear.from_dense(lin)
    assert m.block_density == pytest.approx(0.1, abs=0.02)
    assert m.sparsity >= 0.89 and m.nnz == int((m.weight_int8_dense() != 0).sum())
    assert torch.equal(m.weight_int8_dense(), Int8Linear.from_float(lin).weight_int8)
    assert "4x1" in repr(m) and "qs8-spmm" in repr(m)


def test_relu_no_bias_dtypes_and_empty_batch():
    lin = _pruned_linear(bias=False)
    m = SparseInt8Linear.from_dense(lin, relu=True)
    x = torch.randn(4, 96)
    with torch.no_grad():
        ref = Int8Linear.from_float(lin, relu=True)(x)
        assert torch.equal(m(x), ref) and (m(x) >= 0).all()
        assert m(x.half()).dtype == torch.float16
        assert m(torch.randn(0, 96)).shape == (0, 70)


def test_nan_input_row_gives_nan_output_row():
    m = SparseInt8Linear.from_dense(_pruned_linear())
    x = torch.randn(3, 96)
    x[1, 5] = float("nan")
    with torch.no_grad():
        y = m(x)
    assert torch.isnan(y[1]).all() and torch.isfinite(y[[0, 2]]).all()


def test_state_dict_with_another_block_count_and_copies():
    a = SparseInt8Linear.from_dense(_pruned_linear(seed=1))
    b = SparseInt8Linear.from_dense(_pruned_linear(sparsity=0.5, seed=2))
    assert a.nblocks != b.nblocks
    a.load_state_dict(b.state_dict())
    x = torch.randn(2, 96)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
        assert torch.equal(copy.deepcopy(a)(x), b(x))
        assert torch.equal(pickle.loads(pickle.dumps(a))(x), b(x))


def test_save_load_roundtrip(tmp_path):
    model = nn.Sequential(nn.Linear(96, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    nnslim.prune(model, nnslim.PruneConfig(sparsity=0.8, pattern="4x1"))
    model[0] = SparseInt8Linear.from_dense(model[0])
    x = torch.randn(4, 96)
    with torch.no_grad():
        want = model(x)
    nnslim.save(model, tmp_path / "m.nns")
    fresh = nn.Sequential(nn.Linear(96, 64), nn.ReLU(), nn.Linear(64, 10))
    loaded = nnslim.load(tmp_path / "m.nns", fresh)
    assert isinstance(loaded[0], SparseInt8Linear)
    with torch.no_grad():
        assert torch.equal(loaded(x), want)


def test_bad_input():
    m = SparseInt8Linear.from_dense(_pruned_linear())
    with pytest.raises(ValueError, match="expected input with size 96"):
        m(torch.randn(2, 95))
    with pytest.raises(TypeError, match="floating-point"):
        m(torch.ones(2, 96, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="inference-only"):
        m(torch.randn(2, 96, requires_grad=True))
    with pytest.raises(TypeError, match="nn.Linear or Int8Linear"):
        SparseInt8Linear.from_dense(nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match="weight_int8"):
        m.set_int8_weight(torch.zeros(3, 3, dtype=torch.int8), torch.ones(3))
    with pytest.raises(ValueError, match="in_features and out_features"):
        SparseInt8Linear(0, 4)
    with pytest.raises(RuntimeError, match="dynamically"):
        m.set_input_qparams(0.1, 0)
    with pytest.raises(ValueError, match="input qparams"):
        SparseInt8Linear.from_dense(_pruned_linear(), input_qparams=(0.0, 0))


def test_torch_compile_captures_it_without_graph_breaks():
    from nnslim.nn._torch_ops import HAVE_CUSTOM_OP

    if not HAVE_CUSTOM_OP:
        pytest.skip("torch.library.custom_op needs torch >= 2.4")
    m = nn.Sequential(SparseInt8Linear.from_dense(_pruned_linear()), nn.ReLU(), nn.Linear(70, 5))
    x = torch.randn(2, 3, 96)
    with torch.no_grad():
        want = m(x)
        assert torch._dynamo.explain(m)(x).graph_break_count == 0
        torch._dynamo.reset()
        got = torch.compile(m, backend="eager")(x)
        torch._dynamo.reset()
    assert torch.equal(got, want)
