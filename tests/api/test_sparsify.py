"""sparsify(): pruned Linear/Conv2d layers become CSR drop-ins where that is faster; the model computes
the same function, masks are gone, and the layers it should not touch stay as they were."""
import pytest
import torch
import torch.nn as nn

from nnslim.nn import SparseConv2d, SparseLinear
from nnslim.pruning.masks import apply_mask, is_pruned
from nnslim.sparsify import BREAK_EVEN_SPARSITY, plan_sparsify, sparsify


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 32, 1)
        self.fc1 = nn.Linear(32 * 8 * 8, 64)
        self.fc2 = nn.Linear(64, 10)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv1(x)))
        x = self.pw(self.dw(x))
        y = self.fc2(torch.relu(self.fc1(x.flatten(1))))
        t = y[:, :8].reshape(-1, 1, 8)
        return y + self.attn(t, t, t)[0].reshape(-1, 8).sum(1, keepdim=True)


def _prune(module, sparsity, seed=0):
    g = torch.Generator().manual_seed(seed)
    apply_mask(module, (torch.rand(module.weight.shape, generator=g) >= sparsity).float())


def _model():
    torch.manual_seed(0)
    m = Net().eval()
    _prune(m.conv1, 0.9)
    _prune(m.pw, 0.95)
    _prune(m.fc1, 0.9)
    _prune(m.fc2, 0.2)  # too dense: stays nn.Linear
    _prune(m.dw, 0.9)   # depthwise: stays dense
    with torch.no_grad():
        m.attn.out_proj.weight.mul_(0)  # sparse, but MultiheadAttention reads its weight directly
    return m


def test_rule_based_conversion_keeps_outputs():
    m = _model()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ref = m(x)
    assert sparsify(m) is m
    assert isinstance(m.conv1, SparseConv2d) and isinstance(m.pw, SparseConv2d)
    assert isinstance(m.fc1, SparseLinear)
    assert type(m.fc2) is nn.Linear and type(m.dw) is nn.Conv2d
    assert type(m.attn.out_proj) is nn.modules.linear.NonDynamicallyQuantizableLinear
    assert not any(is_pruned(mod) for mod in m.modules())  # masks baked or gone
    assert "weight_orig" not in dict(m.fc2.named_parameters())
    with torch.no_grad():
        y = m(x)
    assert ((y - ref).norm() / ref.norm()).item() < 1e-4


def test_min_sparsity_and_filter_fn():
    m = _model()
    sparsify(m, min_sparsity=0.93)
    assert isinstance(m.pw, SparseConv2d) and type(m.fc1) is nn.Linear and type(m.conv1) is nn.Conv2d
    m = _model()
    sparsify(m, filter_fn=lambda mod, name: name != "fc1")
    assert type(m.fc1) is nn.Linear and is_pruned(m.fc1)  # not considered: untouched, mask kept
    assert isinstance(m.conv1, SparseConv2d)


def test_plan_reasons_and_break_even():
    plan = {d.name: d for d in plan_sparsify(_model())}
    assert set(plan) == {"conv1", "dw", "pw", "fc1", "fc2"}  # not attn.out_proj: MultiheadAttention owns it
    assert not plan["dw"].convert and "grouped" in plan["dw"].reason
    assert plan["fc1"].convert and plan["fc1"].kind == "linear" and plan["fc1"].sparsity > 0.85
    assert plan["pw"].kind == "conv1x1" and plan["conv1"].kind == "conv"
    assert not plan["fc2"].convert and "min_sparsity" in plan["fc2"].reason
    m = nn.Sequential(nn.Linear(64, 64))
    _prune(m[0], (0.5 + BREAK_EVEN_SPARSITY["linear"]) / 2)
    (d,) = plan_sparsify(m)
    assert not d.convert and "break-even" in d.reason


def test_example_input_times_each_layer():
    m = _model()
    bn_mean = m.bn.running_mean.clone()
    m.train()
    x = torch.randn(4, 3, 8, 8)
    plan = {d.name: d for d in plan_sparsify(m, example_input=x)}
    assert torch.equal(m.bn.running_mean, bn_mean) and m.training  # the probe changed nothing
    for name in ("conv1", "pw", "fc1"):
        d = plan[name]
        assert d.dense_us > 0 and d.sparse_us > 0 and d.convert == (d.sparse_us < d.dense_us)
    m.eval()
    with torch.no_grad():
        ref = m(x)
        sparsify(m, example_input=x)
        assert ((m(x) - ref).norm() / ref.norm()).item() < 1e-4


def test_all_zero_layer_and_root_module():
    lin = nn.Linear(16, 4)
    with torch.no_grad():
        lin.weight.zero_()
    out = sparsify(lin)
    assert isinstance(out, SparseLinear) and out.nnz == 0
    x = torch.randn(3, 16)
    with torch.no_grad():
        assert torch.equal(out(x), lin(x))


def test_bad_arguments():
    with pytest.raises(TypeError, match="model"):
        sparsify("not a model")
    with pytest.raises(ValueError, match="min_sparsity"):
        sparsify(nn.Linear(2, 2), min_sparsity=1.5)


def _mlp(sparsity=0.85):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    import nnslim

    nnslim.prune(m, nnslim.PruneConfig(sparsity=sparsity, pattern="4x1", scope="layer"))
    return m


def test_int8_forms_timed_on_the_input():
    from nnslim.nn import Int8Linear, SparseInt8Linear

    m = _mlp()
    x = torch.randn(64, 128)
    with torch.no_grad():
        ref = m(x)
    decisions = []
    sparsify(m, dtype="int8", example_input=x, decisions=decisions)
    assert [d.name for d in decisions] == ["0", "2", "4"]
    for d in decisions:
        assert set(d.timings_us) == {"dense_int8", "sparse_int8", "sparse_f32"}
        assert d.form == min(d.timings_us, key=d.timings_us.get) and d.convert
        want = {"dense_int8": Int8Linear, "sparse_int8": SparseInt8Linear, "sparse_f32": SparseLinear}[d.form]
        assert type(m[int(d.name)]) is want
    with torch.no_grad():
        y = m(x)
    assert torch.nn.functional.cosine_similarity(y.flatten(), ref.flatten(), 0) > 0.999
    assert not any(is_pruned(mod) for mod in m.modules())


def test_int8_rule_without_input_and_below_min_sparsity():
    from nnslim.nn import Int8Linear, SparseInt8Linear
    from nnslim.sparsify import BREAK_EVEN_BLOCK_SPARSITY_INT8

    m = _mlp(0.9)
    m.add_module("dense", nn.Linear(10, 10))  # unpruned: becomes dense int8
    plan = {d.name: d for d in plan_sparsify(m, dtype="int8")}
    assert plan["0"].form == "sparse_int8" and "break-even" in plan["0"].reason
    assert plan["dense"].form == "dense_int8" and "min_sparsity" in plan["dense"].reason
    assert BREAK_EVEN_BLOCK_SPARSITY_INT8 <= 0.9
    sparsify(m, dtype="int8")
    assert type(m[0]) is SparseInt8Linear and type(m.dense) is Int8Linear


def test_int8_layers_already_quantized_stay_or_become_block_sparse():
    import nnslim
    from nnslim.nn import Int8Linear, SparseInt8Linear

    m = _mlp(0.9)
    nnslim.pruning.remove_masks(m)
    nnslim.quantize(m, "int8_dynamic")
    assert type(m[0]) is Int8Linear
    x = torch.randn(8, 128)
    with torch.no_grad():
        ref = m(x)
    sparsify(m, dtype="int8")
    assert type(m[0]) is SparseInt8Linear
    with torch.no_grad():
        assert torch.equal(m(x), ref)  # the same int8 weights and activations: identical outputs


def test_bad_dtype():
    with pytest.raises(ValueError, match="dtype"):
        sparsify(nn.Linear(4, 4), dtype="int4")


def test_fold_batchnorm_on_a_torchvision_layout_resnet(tmp_path):
    import nnslim
    from nnslim.models import randomize_batchnorm, resnet18

    torch.manual_seed(0)
    m = resnet18(num_classes=10).eval()
    randomize_batchnorm(m)
    nnslim.prune(m, nnslim.PruneConfig(sparsity=0.9, scope="layer", skip=["conv1", "fc"]))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = m(x)
    out = sparsify(m, fold_batchnorm=True)
    assert is_pruned(m.layer1[0].conv1) and isinstance(m.layer1[0].bn1, nn.BatchNorm2d)  # the model is untouched
    assert isinstance(out.layer1[0].bn1, nn.Identity) and isinstance(out.layer1[0].conv1, SparseConv2d)
    assert isinstance(out.layer2[0].downsample[1], nn.Identity)  # BatchNorms outside Sequential blocks too
    from nnslim.nn import MaxPool2d

    assert type(out.maxpool) is MaxPool2d and type(m.maxpool) is nn.MaxPool2d  # fast_pooling follows fold_batchnorm
    with torch.no_grad():
        y = out(x)
        torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-5)
        nnslim.save(out, tmp_path / "r.nns")
        loaded = nnslim.load(tmp_path / "r.nns", resnet18(num_classes=10))
        assert torch.equal(loaded(x), y) and type(loaded.maxpool) is MaxPool2d
    with pytest.raises(ValueError, match="eval"):
        sparsify(m.train(), fold_batchnorm=True)


def test_int8_wide_layers_skip_the_sparse_int8_form():
    from nnslim.nn import Int8Linear

    lin = nn.Linear(140000, 4)
    with torch.no_grad():
        lin.weight.zero_()
        lin.weight[:, :10] = 1.0
    plan = plan_sparsify(nn.Sequential(lin), dtype="int8")
    assert plan[0].form == "dense_int8"
    d = plan_sparsify(nn.Sequential(lin), dtype="int8", example_input=torch.randn(2, 140000))[0]
    assert "sparse_int8" not in d.timings_us
    assert type(sparsify(nn.Sequential(lin), dtype="int8")[0]) is Int8Linear
