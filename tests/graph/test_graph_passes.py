"""Each graph pass on a tiny model: what it rewrites, what it must leave alone, and that the rewritten
float graph computes what the original did."""
import copy
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nnslim.graph import (FusedConv2d, GraphCaptureError, capture, fold_batchnorm, fuse_conv_activation,
                          fuse_conv_add, propagate_shapes)
from nnslim.models import randomize_batchnorm


def _run_passes(model, x, *passes):
    ref = model(x)
    gm = capture(copy.deepcopy(model))
    propagate_shapes(gm, x)
    for p in passes:
        p(gm)
    torch.testing.assert_close(gm(x), ref, rtol=1e-4, atol=1e-5)
    return gm


def _types(gm):
    return [type(m).__name__ for m in gm.modules()]


class ConvBnBranch(nn.Module):
    """BatchNorms outside Sequential, one in functional form, one whose conv has two users."""

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 1, bias=False)
        self.b2 = nn.BatchNorm2d(8)
        self.c3, self.b3 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.b1(self.c1(x))
        z = F.batch_norm(self.c2(y), self.b2.running_mean, self.b2.running_var, self.b2.weight, self.b2.bias,
                         False, 0.1, self.b2.eps)
        t = self.c3(z)
        return self.b3(t) + t  # t has two users: its BatchNorm must not be folded


def test_fold_batchnorm_module_and_functional_forms():
    m = randomize_batchnorm(ConvBnBranch()).eval()
    gm = _run_passes(m, torch.randn(2, 3, 9, 9), fold_batchnorm)
    assert gm.nnslim_folded == 2
    assert _types(gm).count("BatchNorm2d") == 1  # b3 stays: c3's output is also used directly


def test_fold_batchnorm_linear_bn1d():
    m = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU())
    randomize_batchnorm(m).eval()
    gm = _run_passes(m, torch.randn(4, 5), fold_batchnorm)
    assert gm.nnslim_folded == 1 and "BatchNorm1d" not in _types(gm)


class Residual(nn.Module):
    def __init__(self, act):
        super().__init__()
        self.a, self.b = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 1)
        self.act = act

    def forward(self, x):
        return self.act(self.a(x) + self.b(x))


@pytest.mark.parametrize("act,spec", [(nn.ReLU(), "relu"), (F.relu, "relu"), (torch.relu, "relu"),
                                      (nn.ReLU6(), "clamp"), (nn.Hardtanh(-2, 3), "clamp"), (F.relu6, "clamp"),
                                      (nn.Hardswish(), "hardswish"), (F.hardswish, "hardswish"),
                                      (nn.Hardsigmoid(), "hardsigmoid"), (lambda t: t.relu(), "relu")])
def test_fuse_conv_add_then_activation_every_form(act, spec):
    gm = _run_passes(Residual(act).eval(), torch.randn(1, 4, 6, 6) * 3, fuse_conv_add, fuse_conv_activation)
    fused = [m for m in gm.modules() if isinstance(m, FusedConv2d)]
    assert len(fused) == 1 and fused[0].residual and fused[0].activation == spec
    assert gm.nnslim_fused_adds == 1 and gm.nnslim_fused_activations == 1


def test_fuse_conv_add_refuses_broadcasting_and_shared_outputs():
    class Broadcast(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 1)

        def forward(self, x, bias):
            return self.c(x) + bias

    gm = capture(Broadcast())
    propagate_shapes(gm, torch.randn(1, 3, 4, 4), torch.randn(1, 4, 1, 1))
    fuse_conv_add(gm)
    assert gm.nnslim_fused_adds == 0

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            y = self.c(x)
            return torch.relu(y + x) * y

    gm = _run_passes(Shared(), torch.randn(1, 3, 4, 4), fuse_conv_add, fuse_conv_activation)
    assert gm.nnslim_fused_adds == 0 and gm.nnslim_fused_activations == 0


def test_fuse_activation_skips_a_module_called_twice():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return torch.relu(self.c(x)) + self.c(x)

    gm = _run_passes(Twice(), torch.randn(1, 3, 4, 4), fuse_conv_activation)
    assert gm.nnslim_fused_activations == 0


class Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            return self.c(x)
        return -self.c(x)


def test_capture_keeps_untraceable_submodule_opaque_and_names_it():
    m = nn.Sequential(nn.Conv2d(3, 3, 1), Untraceable(), nn.ReLU())
    with pytest.warns(UserWarning, match=r"cannot be traced.*: 1"):
        gm = capture(m)
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(gm(x), m(x))
    assert gm.meta["nnslim_opaque"] == ["1"]


def test_capture_untraceable_root_raises():
    with pytest.raises(GraphCaptureError, match="Untraceable cannot be traced"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            capture(Untraceable())


def test_fused_conv2d_requires_its_residual():
    f = FusedConv2d(3, 3, 1, residual=True)
    with pytest.raises(ValueError, match="call it with \\(x, residual\\)"):
        f(torch.randn(1, 3, 2, 2))
    with pytest.raises(ValueError, match="activation: expected one of"):
        FusedConv2d(3, 3, 1, activation="gelu")


def test_nan_images_flags_exactly_the_non_finite_images():
    from nnslim.graph.nan_guard import nan_images, poison_outputs

    x = torch.full((4, 3, 8, 8), 3e38)  # huge but finite: a float32 sum would overflow, float64 does not
    x[1, 0, 0, 0] = float("inf")
    x[2, 2, 7, 7] = float("nan")
    x[3, 0, 0, 0], x[3, 0, 0, 1] = float("inf"), float("-inf")
    assert nan_images(x).tolist() == [False, True, True, True]
    assert nan_images(torch.zeros(2, 3, dtype=torch.int64)) is None
    out = poison_outputs((torch.ones(4, 2), {"k": torch.ones(4)}), nan_images(x))
    assert torch.isnan(out[0][1:]).all() and torch.isfinite(out[0][0]).all()
    assert torch.isnan(out[1]["k"][1:]).all() and out[1]["k"][0] == 1
    clean = (torch.ones(4, 2), {"k": torch.ones(4)})
    assert poison_outputs(clean, nan_images(torch.zeros(4, 3))) is clean  # no image flagged: untouched


def test_fuse_linear_relu_only_relu_and_single_use():
    from nnslim.graph import FusedLinear, fuse_linear_relu

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 4)

        def forward(self, x):
            h = F.relu(self.a(x))        # fused
            g = F.relu6(self.b(h))       # not ReLU: stays
            y = self.c(g)
            return torch.relu(y) + y     # c has two users: stays

    gm = _run_passes(Head().eval(), torch.randn(3, 6), fuse_linear_relu)
    assert gm.nnslim_fused_linear_relu == 1
    assert isinstance(gm.a, FusedLinear) and gm.a.relu and not isinstance(gm.b, FusedLinear)


@pytest.mark.parametrize("call", [lambda x: F.adaptive_avg_pool2d(x, 1), lambda x: F.adaptive_avg_pool2d(x, (1, 1)),
                                  lambda x: F.adaptive_avg_pool2d(x, output_size=(1, 1))])
def test_global_pool_module_every_form(call):
    from nnslim.graph import global_pool_module

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)

        def forward(self, x):
            return call(self.conv(x)).flatten(1) + F.adaptive_avg_pool2d(x, 2).flatten(1).sum(1, keepdim=True)

    m = Head().eval()
    gm = global_pool_module(capture(m))
    pools = [n for n in gm.graph.nodes if n.op == "call_module" and isinstance(gm.get_submodule(n.target),
                                                                               nn.AdaptiveAvgPool2d)]
    assert [n.target for n in pools] == ["global_pool"] and gm.nnslim_global_pool_modules == 1
    # the (2, 2) pool is not global: it stays a function call
    assert sum(n.op == "call_function" and n.target is F.adaptive_avg_pool2d for n in gm.graph.nodes) == 1
    x = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        assert torch.equal(gm(x), m(x))


@pytest.mark.parametrize("form", ["gate*x", "x*gate", "torch.mul", "method"])
def test_channel_mul_module_every_form(form):
    from nnslim.graph import ChannelMul, channel_mul_module, propagate_shapes

    class SE(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Conv2d(8, 8, 1)

        def forward(self, x):
            y = self.conv(x)
            g = torch.sigmoid(self.fc(F.adaptive_avg_pool2d(y, 1)))
            z = {"gate*x": lambda: g * y, "x*gate": lambda: y * g, "torch.mul": lambda: torch.mul(y, g),
                 "method": lambda: y.mul(g)}[form]()
            return z * z  # same shapes: not a channel multiply

    m = SE().eval()
    x = torch.randn(2, 3, 6, 6)
    gm = capture(m)
    propagate_shapes(gm, x)
    channel_mul_module(gm)
    mods = [n for n in gm.graph.nodes if n.op == "call_module" and isinstance(gm.get_submodule(n.target), ChannelMul)]
    assert [n.target for n in mods] == ["se_mul"] and gm.nnslim_channel_mul_modules == 1
    assert mods[0].args[0].target == "conv"  # x first, the gate second
    with torch.no_grad():
        assert torch.equal(gm(x), m(x))
