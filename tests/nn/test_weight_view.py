"""``layer.weight`` on every drop-in (nnslim/nn/_weight_view.py): float32 metadata for free, the
dequantized values whenever a torch op reads them, nothing stored, nothing in the state_dict, and
model code that casts its input to ``layer.weight.dtype`` (Hugging Face's ViT, T5) keeps working."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim.nn import (Int4Linear, Int8Conv2d, Int8Embedding, Int8Linear, Log2Linear, SparseConv2d, SparseInt8Linear,
                       SparseLinear)
from nnslim.nn._weight_view import WeightView


def _linear():
    torch.manual_seed(0)
    lin = nn.Linear(64, 24)
    with torch.no_grad():
        lin.weight[:, ::3] = 0  # zeros for the sparse forms
    return lin


def _conv(groups=1):
    torch.manual_seed(1)
    conv = nn.Conv2d(8, 12, 3, padding=1, groups=groups)
    with torch.no_grad():
        conv.weight[::2] = 0
    return conv


CASES = {
    "int8_linear": lambda: (_linear(), Int8Linear.from_float(_linear()), 0.01),
    "sparse_int8_linear": lambda: (_linear(), SparseInt8Linear.from_dense(_linear()), 0.01),
    "int4_linear": lambda: (_linear(), Int4Linear.from_float(_linear()), 0.2),
    "log2_linear": lambda: (_linear(), Log2Linear.from_float(_linear()), 0.5),
    "sparse_linear": lambda: (_linear(), SparseLinear.from_dense(_linear()), 0.0),
    "int8_conv2d": lambda: (_conv(), Int8Conv2d.from_float(_conv(), input_qparams=(0.05, 0)), 0.01),
    "int8_conv2d_grouped": lambda: (_conv(2), Int8Conv2d.from_float(_conv(2), input_qparams=(0.05, 0)), 0.01),
    "sparse_conv2d": lambda: (_conv(), SparseConv2d.from_dense(_conv()), 0.0),
    "int8_embedding": lambda: (nn.Embedding(30, 16), Int8Embedding.from_float(nn.Embedding(30, 16)), 0.01),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_weight_reads_as_the_float_layers(case):
    torch.manual_seed(2)
    fl, q, tol = CASES[case]()
    if case == "int8_embedding":  # two Embeddings drawn apart: compare with the quantized module's own
        fl = nn.Embedding(30, 16)
        with torch.no_grad():
            fl.weight.copy_(q.dequantized_weight())
    w = q.weight
    assert isinstance(w, torch.Tensor) and type(w) is WeightView
    assert w.dtype == torch.float32 and w.shape == fl.weight.shape and w.device == fl.weight.device
    assert not w.requires_grad
    ref = fl.weight.detach()
    err = (w - ref).norm() / ref.norm()  # a torch op: materializes the dequantized values
    assert err <= tol, err
    dense = w.clone()
    assert type(dense) is torch.Tensor and dense.shape == ref.shape
    assert torch.equal(torch.tensor(w.tolist()), dense) and (w.numpy() == dense.numpy()).all()
    if case != "int8_embedding" and hasattr(q, "dequantized_weight"):
        assert torch.equal(dense, q.dequantized_weight())
    # Nothing stored: the state_dict and buffers are the module's own, and weight cannot be set.
    assert "weight" not in q.state_dict()
    with pytest.raises((AttributeError, KeyError)):
        q.weight = nn.Parameter(ref.clone())


@pytest.mark.parametrize("write", ["mul_", "zeros_", "copy_", "setitem", "data", "detach", "transposed"])
def test_writes_through_the_view_raise_and_change_nothing(write):
    _, q, _ = CASES["int8_conv2d"]()
    before = q.dequantized_weight()
    ops = {"mul_": lambda w: w.mul_(0), "zeros_": nn.init.zeros_, "copy_": lambda w: w.copy_(torch.zeros(w.shape)),
           "setitem": lambda w: w.__setitem__(0, 5.0), "data": lambda w: w.data.normal_(),
           "detach": lambda w: w.detach().add_(1), "transposed": lambda w: w.transpose(0, 1).sub_(1)}
    with torch.no_grad(), pytest.raises(RuntimeError, match="read-only view"):
        ops[write](q.weight)
    assert torch.equal(q.dequantized_weight(), before)
    # Reading through views still gives the dequantized values.
    assert torch.equal(q.weight[1].clone(), before[1]) and torch.equal(q.weight.data.clone(), before)


def test_weight_stays_float32_after_dtype_conversions():
    q = Int8Linear.from_float(_linear()).double()  # buffers float64: the view still says and gives float32
    w = q.weight
    assert w.dtype == torch.float32 and (w + torch.zeros(w.shape)).dtype == torch.float32
    assert F.linear(torch.randn(2, 64), w).dtype == torch.float32 and w.numpy().dtype.name == "float32"


def test_weight_follows_the_modules_device_and_values_after_load_state_dict():
    fl, q, _ = CASES["int8_linear"]()
    other = Int8Linear.from_float(nn.Linear(64, 24))
    q.load_state_dict(other.state_dict())
    assert torch.equal(q.weight.clone(), other.dequantized_weight())
    assert q.weight.device == q.weight_int8.device


class _CastsToWeightDtype(nn.Module):
    """The Hugging Face pattern (ViTModel.forward, T5DenseActDense): inputs cast to a layer's weight
    dtype before it runs."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 16, 4, stride=4)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = x.to(self.proj.weight.dtype)
        h = self.proj(x).mean((2, 3))
        if isinstance(self.fc.weight, torch.Tensor) and h.dtype != self.fc.weight.dtype:
            h = h.to(self.fc.weight.dtype)
        return self.fc(h)


@pytest.mark.parametrize("config", ["int8_dynamic", "int8_static"])
def test_model_code_reading_weight_dtype_runs_quantized(config):
    torch.manual_seed(3)
    m = _CastsToWeightDtype().eval()
    calib = [torch.randn(2, 3, 16, 16) for _ in range(3)]
    x = torch.randn(2, 3, 16, 16).double()  # float64 in: the model casts it to the weight's dtype
    with torch.no_grad():
        ref = m(x)
    q = nnslim.quantize(copy.deepcopy(m), config, calibration_data=calib if config == "int8_static" else None)
    assert isinstance(q.fc, Int8Linear) and (config == "int8_dynamic" or isinstance(q.proj, Int8Conv2d))
    with torch.no_grad():
        y = q(x)
    assert y.dtype == torch.float32
    assert F.cosine_similarity(y.flatten().double(), ref.flatten(), dim=0) > 0.999


class _FunctionalLinears(nn.Module):
    """Model code that passes its layers' weights to F.linear (torchvision's Swin attention does)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 8)
        self.head = nn.Linear(8, 4, bias=False)

    def forward(self, x):
        return F.linear(F.linear(x, self.fc.weight, self.fc.bias).relu(), self.head.weight)


@pytest.mark.parametrize("config", ["int8_dynamic", "int4_weight"])
def test_f_linear_over_a_drop_in_weight_runs_the_drop_in(config, monkeypatch):
    """Not an fp32 GEMM over weights dequantized on every call: the layer's own kernel."""
    torch.manual_seed(0)
    model = _FunctionalLinears().eval()
    q = nnslim.quantize(copy.deepcopy(model), config)
    calls = []
    cls = type(q.fc)
    real = cls.forward
    monkeypatch.setattr(cls, "forward", lambda self, x: calls.append(self) or real(self, x))
    x = torch.randn(3, 16)
    with torch.no_grad():
        y = q(x)
        assert [id(m) for m in calls] == [id(q.fc), id(q.head)]
        assert torch.equal(y, q.head(q.fc(x).relu()))
        calls.clear()
        # Not the layer's call (another bias, a fused ReLU): the plain dequantized linear.
        other = F.linear(x, q.fc.weight, torch.zeros(8))
        assert not calls
        torch.testing.assert_close(other, x @ q.fc.dequantized_weight().t())
        relu_layer = Int8Linear.from_float(nn.Linear(16, 8), relu=True)
        F.linear(x, relu_layer.weight, relu_layer.bias)
        assert not any(c is relu_layer for c in calls)


def test_graph_path_converts_linears_read_only_through_f_linear(tmp_path, monkeypatch):
    """int8_static on a traceable model whose layer is used only as F.linear(x, fc.weight, fc.bias):
    the graph never calls fc, so it becomes a dynamic Int8Linear reached through its weight view."""
    import os

    torch.manual_seed(0)
    model = _FunctionalLinears().eval()
    batches = [torch.randn(4, 16) for _ in range(3)]
    q = nnslim.quantize(copy.deepcopy(model), nnslim.Int8StaticConfig(progress=False), calibration_data=batches)
    assert isinstance(q, torch.fx.GraphModule)
    assert type(q.fc) is Int8Linear and not q.fc.static and type(q.head) is Int8Linear
    calls = []
    real = Int8Linear._forward_impl
    monkeypatch.setattr(Int8Linear, "_forward_impl", lambda self, x: calls.append(self) or real(self, x))
    x = torch.randn(5, 16)
    with torch.no_grad():
        y = q(x)
        assert len(calls) == 2
        assert F.cosine_similarity(y.flatten(), model(x).flatten(), 0) > 0.999
    path = os.path.join(tmp_path, "f.nns")
    nnslim.save(q, path)
    r = nnslim.load(path, _FunctionalLinears().eval())
    with torch.no_grad():
        assert torch.equal(r(x), y)
