"""Whole-model int8_static on the graph layer, on nnslim.models' torchvision-layout architectures:
accuracy against fp32, every conv on an int8 kernel with BatchNorm folded and adds / activations fused,
save / reload, torch.compile, and the bad-input paths."""
import copy
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim import models
from nnslim.nn import Int8Conv2d

CFG = nnslim.Int8StaticConfig(progress=False)
MODELS = {"resnet18": models.resnet18, "resnet50": models.resnet50, "resnext50_32x4d": models.resnext50_32x4d,
          "mobilenet_v2": models.mobilenet_v2, "mobilenet_v3_large": models.mobilenet_v3_large}
SIZE = 96  # small images keep the suite fast; the benchmark runs 224x224


def _model(name):
    torch.manual_seed(0)
    return models.randomize_batchnorm(MODELS[name](num_classes=100)).eval()


def _calib(n=8, batch=1):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(batch, 3, SIZE, SIZE, generator=g) for _ in range(n)]


@pytest.fixture(scope="module", params=list(MODELS))
def quantized(request):
    m = _model(request.param)
    return request.param, m, nnslim.quantize(m, CFG, calibration_data=_calib())


def test_accuracy_and_every_conv_int8(quantized):
    name, m, q = quantized
    assert isinstance(q, torch.fx.GraphModule)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        cos = F.cosine_similarity(m(x).flatten(1), q(x).flatten(1)).min().item()
    assert cos >= 0.999, f"{name}: cosine {cos}"
    n_conv = sum(isinstance(c, nn.Conv2d) for c in m.modules())
    assert sum(isinstance(c, Int8Conv2d) for c in q.modules()) == n_conv
    assert not any(isinstance(c, nn.BatchNorm2d) for c in q.modules())
    # No fp32 copy of the weights survives conversion: fp32 tensors are per-channel scales and biases.
    assert all(t.dim() <= 1 for t in q.state_dict().values() if t.is_floating_point())
    assert not list(q.parameters())
    rows = q.meta["nnslim_report"]
    assert sum(r["runs"] == "int8" for r in rows) >= n_conv
    text = nnslim.graph_report(q)
    assert "fused" in text
    fp32 = {r["why"] for r in rows if r["runs"] == "fp32"}
    if name == "mobilenet_v3_large":  # only the classifier's Hardswish stays fp32; SE multiplies run int8
        assert fp32 == {"layout / no-op", "Hardswish: no int8 kernel"}, fp32
        assert text.count("squeeze-excite multiply, int8 in, int8 out") == 8
    else:  # everything but layout ops runs int8
        assert fp32 <= {"layout / no-op"}, fp32
    assert "global average pool, int8 in, fp32 out" in text
    if name.startswith("mobilenet"):
        assert any(c.depthwise for c in q.modules() if isinstance(c, Int8Conv2d))
        assert "depthwise kernel" in text
    if name == "resnext50_32x4d":  # every grouped 3x3 on the direct grouped kernel, int8 in and out
        grouped = [c for c in q.modules() if isinstance(c, Int8Conv2d) and c.groups > 1]
        assert len(grouped) == 16 and all(c.grouped_direct and c.int8_output for c in grouped)
        assert text.count("grouped kernel") == 16
    if name.startswith("resne") or name == "mobilenet_v2":
        assert "add" in text
    if name.startswith("resne"):  # the stem's max pool keeps the int8 chain unbroken
        assert "max pool on the int8 edge" in text and q.conv1.int8_output


def test_original_model_untouched(quantized):
    name, m, q = quantized
    assert any(isinstance(c, nn.BatchNorm2d) for c in m.modules())
    assert not any(isinstance(c, Int8Conv2d) for c in m.modules())


def test_save_reload_identical(quantized, tmp_path):
    name, m, q = quantized
    path = tmp_path / f"{name}.nns"
    nnslim.save(q, path)
    fresh = MODELS[name](num_classes=100)
    r = nnslim.load(path, fresh)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(q(x), r(x))
        assert torch.equal(copy.deepcopy(q)(x), q(x))
    assert nnslim.graph_report(r) == nnslim.graph_report(q)


def test_nan_image_gives_nan_only_in_that_image(quantized):
    name, m, q = quantized
    x = torch.randn(2, 3, SIZE, SIZE)
    x[1, 0, 5, 5] = float("nan")
    with torch.no_grad():
        y = q(x)
    assert torch.isnan(y[1]).all() and torch.isfinite(y[0]).all()


def test_torch_compile_captures_graph_model():
    from nnslim.nn._torch_ops import HAVE_CUSTOM_OP

    if not HAVE_CUSTOM_OP:
        pytest.skip("torch.library.custom_op needs torch >= 2.4")
    m = models.randomize_batchnorm(models.resnet18(num_classes=10)).eval()
    q = nnslim.quantize(m, CFG, calibration_data=_calib(2))
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        want = q(x)
        assert torch._dynamo.explain(q)(x).graph_break_count == 0
        torch._dynamo.reset()
        got = torch.compile(q, backend="eager")(x)
        torch._dynamo.reset()
    assert torch.equal(got, want)


def test_bad_input():
    m = _model("resnet18")
    with pytest.raises(ValueError, match="calibration_data: static quantization needs calibration batches"):
        nnslim.quantize(m, CFG)
    with pytest.raises(ValueError, match="no batches"):
        nnslim.quantize(m, CFG, calibration_data=[])
    with pytest.raises(ValueError, match=r"batch 1 has shape \(1, 3, 50, 50\); expected \(\*, 3, 96, 96\)"):
        nnslim.quantize(m, CFG, calibration_data=[torch.randn(1, 3, SIZE, SIZE), torch.randn(1, 3, 50, 50)])
    with pytest.raises(ValueError, match="could not run through the model"):
        nnslim.quantize(m, CFG, calibration_data=[torch.randn(1, 5, SIZE, SIZE)])
    m.train()
    with pytest.warns(UserWarning, match="training mode"):
        q = nnslim.quantize(m, CFG, calibration_data=_calib(1))
    assert m.training and not q.training


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())

    def forward(self, x):
        return self.body(x) if x.mean() > -10 else self.body(-x)


def test_untraceable_model_falls_back_with_warning():
    m = models.randomize_batchnorm(DataDependent()).eval()
    with pytest.warns(UserWarning, match="falling back to module-by-module"):
        q = nnslim.quantize(m, CFG, calibration_data=_calib(2))
    assert q is m and isinstance(q.body[0], Int8Conv2d)


class WithOpaqueBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = DataDependent.__new__(DataDependent)
        nn.Module.__init__(self.block)
        self.block.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.head(self.block(self.stem(x)))


def test_untraceable_submodule_is_opaque_and_converted_inside(tmp_path):
    m = models.randomize_batchnorm(WithOpaqueBlock()).eval()
    with pytest.warns(UserWarning, match="cannot be traced.*: block"):
        q = nnslim.quantize(m, CFG, calibration_data=_calib(2))
    assert isinstance(q.get_submodule("stem.0"), Int8Conv2d) and isinstance(q.get_submodule("block.body.0"), Int8Conv2d)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        assert F.cosine_similarity(m(x).flatten(), q(x).flatten(), 0) > 0.999
    assert "untraceable submodule" in nnslim.graph_report(q)
    nnslim.save(q, tmp_path / "o.nns")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = nnslim.load(tmp_path / "o.nns", WithOpaqueBlock())
    with torch.no_grad():
        assert torch.equal(r(x), q(x))


def test_graph_false_keeps_module_path():
    m = _model("resnet18")
    q = nnslim.quantize(m, nnslim.Int8StaticConfig(progress=False, graph=False), calibration_data=_calib(1))
    assert q is m and not isinstance(q, torch.fx.GraphModule)


class Mixed(nn.Module):
    """Less common paths in one graph: grouped conv, depthwise with a channel multiplier, dilation,
    functional / torch.* adds and activations, a concatenation (an fp32 island) and a shared input."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.grouped = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.bn = nn.BatchNorm2d(16)
        self.dw_mult = nn.Conv2d(16, 32, 3, padding=2, dilation=2, groups=16)  # multiplier 2: not depthwise
        self.dw = nn.Conv2d(32, 32, 5, padding=2, groups=32)
        self.proj = nn.Conv2d(48, 16, 1)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = F.relu6(self.stem(x))
        y = torch.add(self.bn(self.grouped(x)), x)
        z = F.hardswish(self.dw(F.relu(self.dw_mult(y))))
        c = torch.cat([z, y], dim=1)
        out = self.proj(c) + y
        return self.head(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def test_mixed_paths_graph(tmp_path):
    torch.manual_seed(0)
    m = models.randomize_batchnorm(Mixed()).eval()
    calib = [torch.randn(2, 3, 20, 20) for _ in range(4)]
    q = nnslim.quantize(m, CFG, calibration_data=calib)
    x = torch.randn(3, 3, 20, 20)
    with torch.no_grad():
        assert F.cosine_similarity(m(x).flatten(1), q(x).flatten(1)).min() > 0.999
    kinds = {n: type(mod).__name__ for n, mod in q.named_modules()}
    assert kinds["grouped"] == kinds["dw_mult"] == kinds["dw"] == kinds["proj"] == "Int8Conv2d"
    assert q.dw.depthwise and not q.dw_mult.depthwise and q.grouped.groups == 4
    assert q.proj.residual and q.grouped.residual and kinds["bn"] == "Identity"
    assert q.dw.activation == "hardswish" and q.dw_mult.activation == "relu" and q.stem.activation == "clamp"
    text = nnslim.graph_report(q)
    assert "cat: no int8 kernel" in text
    nnslim.save(q, tmp_path / "mixed.nns")
    r = nnslim.load(tmp_path / "mixed.nns", Mixed())
    with torch.no_grad():
        assert torch.equal(r(x), q(x))


def test_nnslim_dropins_stay_single_graph_nodes():
    """A pruned + sparsified model (SparseLinear inside a Sequential) still converts as a graph."""
    from nnslim import datasets

    torch.manual_seed(0)
    m = datasets.DigitsCNN(8).eval()
    nnslim.prune(m, nnslim.PruneConfig(sparsity=0.8))
    nnslim.remove_masks(m)
    m = nnslim.sparsify(m, min_sparsity=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        q = nnslim.quantize(m, CFG, calibration_data=[torch.rand(8, 1, 8, 8)])
    assert isinstance(q, torch.fx.GraphModule)
    text = nnslim.graph_report(q)
    assert "SparseLinear: an nnslim drop-in, kept as it is" in text and "MaxPool2d: MaxPool2d" not in text
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        assert F.cosine_similarity(m(x).flatten(), q(x).flatten(), 0) > 0.999


def test_int8_conv_pickles_and_reloads():
    """A packed Int8Conv2d (its bound kernel call included) pickles; the copy repacks on first use."""
    import pickle

    q = Int8Conv2d.from_float(nn.Conv2d(8, 16, 3, padding=1), input_qparams=(0.05, 0))
    x = torch.randn(1, 8, 10, 10)
    with torch.no_grad():
        assert torch.equal(pickle.loads(pickle.dumps(q))(x), q(x))


def test_int8_entry_quantizes_the_image_once(quantized, tmp_path):
    """The stem reads an int8 NHWC tensor from one entry node, which also flags non-finite images
    (no separate float NaN check); the entry survives save / load and matches quantizing in the conv."""
    from nnslim.graph.entry import quantize_images
    from nnslim.graph.nan_guard import nan_images

    name, m, q = quantized
    targets = [n.target for n in q.graph.nodes if n.op == "call_function"]
    assert targets.count(quantize_images) == 1 and nan_images not in targets
    assert nnslim.graph_report(q).splitlines()[1].split()[:2] == ["quantize_images", "int8"]
    stem = q.get_submodule(q.meta["nnslim_graph"]["int8_entry"])
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        xq, flags = quantize_images(x, stem.input_scale, stem.input_zero_point)
        assert xq.dtype == torch.int8 and xq.shape == (2, SIZE, SIZE, 3) and not flags.any()
        assert torch.equal(stem(xq), stem(x))  # the conv quantizing fp32 itself gives the same bytes
    path = tmp_path / "entry.nns"
    nnslim.save(q, path)
    r = nnslim.load(path, MODELS[name](num_classes=100))
    assert r.meta["nnslim_graph"]["int8_entry"] == q.meta["nnslim_graph"]["int8_entry"]
    with torch.no_grad():
        assert torch.equal(r(x), q(x))


def test_int8_entry_bad_input():
    from nnslim.graph.entry import quantize_images

    one, zero = torch.tensor(0.1), torch.tensor(0, dtype=torch.int32)
    with pytest.raises(ValueError, match="4-D float"):
        quantize_images(torch.randn(3, 8, 8), one, zero)
    with pytest.raises(ValueError, match="4-D float"):
        quantize_images(torch.zeros(1, 3, 8, 8, dtype=torch.int8), one, zero)
    xq, flags = quantize_images(torch.randn(1, 3, 8, 8, dtype=torch.float64).permute(0, 1, 3, 2), one, zero)
    assert xq.shape == (1, 8, 8, 3) and flags.tolist() == [False]
    with pytest.raises(ValueError, match="expected 3 channels"):
        quantize_images(torch.randn(1, 4, 8, 8), one, zero, 3)
    q = nnslim.quantize(_model("resnet18"), CFG, calibration_data=_calib(2))
    with pytest.raises(ValueError, match="expected 3 channels"):
        q(torch.randn(1, 1, SIZE, SIZE))  # a grayscale image into an RGB model: named, not a kernel error


def test_input_with_two_consumers_keeps_the_float_entry():
    """When the image feeds more than the stem conv, the conv quantizes it itself (no entry node)."""
    class TwoUses(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(F.adaptive_avg_pool2d(torch.relu(self.conv(x)) + x.mean((1, 2, 3), keepdim=True), 1).flatten(1))

    m = TwoUses().eval()
    q = nnslim.quantize(m, CFG, calibration_data=[torch.randn(1, 3, 16, 16) for _ in range(4)])
    assert "int8_entry" not in q.meta["nnslim_graph"]
    x = torch.randn(2, 3, 16, 16)
    x[0, 1, 2, 3] = float("nan")
    with torch.no_grad():
        y = q(x)
    assert torch.isnan(y[0]).all() and torch.isfinite(y[1]).all()


def test_head_global_pool_reads_the_int8_edge(quantized):
    """The global average pool before the classifier (module or functional form) reads the last
    conv's int8 output and returns the same fp32 means as pooling the dequantized tensor."""
    from nnslim.nn import AdaptiveAvgPool2d

    name, m, q = quantized
    pools = [(fqn, mod) for fqn, mod in q.named_modules() if isinstance(mod, AdaptiveAvgPool2d) and mod.int8_input]
    assert len(pools) == (9 if name == "mobilenet_v3_large" else 1), name  # V3: 8 squeeze-excite pools + the head's
    pool = pools[-1][1]
    xq = torch.randint(-128, 128, (2, 3, 4, 16), dtype=torch.int8)
    want = ((xq.float() - float(pool.input_zero_point)) * float(pool.input_scale)).mean((1, 2))
    torch.testing.assert_close(pool(xq).flatten(1), want, rtol=1e-6, atol=1e-6)


def test_load_accepts_the_previous_pass_list(tmp_path):
    """Files record the float passes they were built with; load() runs that list (those of earlier
    releases, without global_pool_module or drop_no_ops, still load) and refuses an unknown one."""
    from nnslim.quantization.graph_static import GRAPH_PASSES, KNOWN_PASS_LISTS

    m = _model("resnet18")
    q = nnslim.quantize(m, CFG, calibration_data=_calib(2))
    x = torch.randn(1, 3, SIZE, SIZE)
    assert KNOWN_PASS_LISTS[-1] == GRAPH_PASSES and len(KNOWN_PASS_LISTS) == 3
    for passes in KNOWN_PASS_LISTS[:-1]:  # nnslim.models' resnet18 has no no-op nodes: the same graph
        q.meta["nnslim_graph"]["passes"] = list(passes)
        nnslim.save(q, tmp_path / "old.nns")
        r = nnslim.load(tmp_path / "old.nns", MODELS["resnet18"](num_classes=100))
        with torch.no_grad():
            assert torch.equal(r(x), q(x))
    q.meta["nnslim_graph"]["passes"] = ["fold_batchnorm", "from_the_future"]
    nnslim.save(q, tmp_path / "new.nns")
    with pytest.raises(ValueError, match="unknown to this nnslim"):
        nnslim.load(tmp_path / "new.nns", MODELS["resnet18"](num_classes=100))
