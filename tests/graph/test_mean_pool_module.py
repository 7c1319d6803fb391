"""mean_pool_module: timm's squeeze-excite / head form of the global average pool, x.mean((2, 3)),
becomes a pool module in every spelling; other means stay; a timm-style squeeze-excite block then
runs int8 on its x edge and reloads."""
import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim.graph import capture, mean_pool_module, propagate_shapes
from nnslim.models import randomize_batchnorm

FORMS = {
    "method, keepdim": lambda y: y.mean((2, 3), keepdim=True),
    "method, list, negative": lambda y: y.mean([-1, -2], keepdim=True),
    "torch.mean, keywords": lambda y: torch.mean(y, dim=(3, 2), keepdim=True),
    "method, positional keepdim": lambda y: y.mean((2, 3), True),
    "no keepdim": lambda y: y.mean((2, 3))[:, :, None, None],
}


class Head(nn.Module):
    def __init__(self, form):
        super().__init__()
        self.conv, self.form = nn.Conv2d(3, 8, 3), form

    def forward(self, x):
        y = self.conv(x)
        kept = y.mean(1, keepdim=True).mean((2, 3)) + y.mean((2, 3), dtype=torch.float64).float() + y.mean(3).sum(2)
        return FORMS[self.form](y).flatten(1) + kept  # the other means: a channel mean, a dtype, one dim


def _pools(gm):
    return [n for n in gm.graph.nodes if n.op == "call_module" and isinstance(gm.get_submodule(n.target),
                                                                               nn.AdaptiveAvgPool2d)]


@pytest.mark.parametrize("form", list(FORMS))
def test_mean_pool_module_every_form(form):
    m = Head(form).eval()
    x = torch.randn(2, 3, 9, 9)
    gm = capture(m)
    propagate_shapes(gm, x)
    mean_pool_module(gm)
    pools = _pools(gm)
    # the spatial mean of conv's output, and the (N, 1, H, W) channel mean's spatial mean after it
    assert gm.nnslim_mean_pool_modules == 2 and [n.target for n in pools] == ["global_pool", "global_pool_1"]
    means = [n for n in gm.graph.nodes if n.target in ("mean", torch.mean)]
    assert len(means) == 3  # the channel mean, the one with a dtype, the single-dimension one
    with torch.no_grad():
        torch.testing.assert_close(gm(x), m(x), rtol=1e-6, atol=1e-6)


def test_mean_pool_module_needs_shapes_and_a_4d_input():
    class Flat(nn.Module):
        def forward(self, x):
            return x.mean((2, 3), keepdim=True)

    gm = mean_pool_module(capture(Flat()))  # no propagate_shapes: the rank is unknown
    assert gm.nnslim_mean_pool_modules == 0
    gm = capture(Flat())
    propagate_shapes(gm, torch.randn(2, 3, 4, 5, 6))  # 5-D: dims 2, 3 are not the last two
    assert mean_pool_module(gm).nnslim_mean_pool_modules == 0


class TimmSE(nn.Module):
    """timm's SqueezeExcite after a conv: x.mean -> conv_reduce -> ReLU -> conv_expand -> gate -> x * gate."""

    def __init__(self, c=16, gate=nn.Hardsigmoid):
        super().__init__()
        self.conv, self.bn, self.act = nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()
        self.conv_reduce, self.act1, self.conv_expand = nn.Conv2d(c, 4, 1), nn.ReLU(), nn.Conv2d(4, c, 1)
        self.gate, self.proj = gate(), nn.Conv2d(c, 8, 1)

    def forward(self, x):
        x = self.act(self.bn(self.conv(x)))
        s = self.conv_expand(self.act1(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return self.proj(x * self.gate(s))


@pytest.mark.parametrize("gate", [nn.Hardsigmoid, nn.Sigmoid])
def test_timm_squeeze_excite_runs_int8_and_reloads(tmp_path, gate):
    m = randomize_batchnorm(TimmSE(gate=gate)).eval()
    calib = [torch.randn(1, 3, 12, 12) for _ in range(4)]
    q = nnslim.quantize(m, nnslim.Int8StaticConfig(progress=False), calibration_data=calib)
    rows = {r["op"]: r for r in q.meta["nnslim_report"]}
    assert rows["AdaptiveAvgPool2d"]["runs"] == "int8" and rows["Int8ChannelMul"]["runs"] == "int8"
    assert "mean" not in rows
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        ref, y = m(x), q(x)
    assert torch.nn.functional.cosine_similarity(ref.flatten(), y.flatten(), dim=0) > 0.999
    nnslim.save(q, tmp_path / "se.nns")
    with torch.no_grad():
        assert torch.equal(nnslim.load(tmp_path / "se.nns", TimmSE(gate=gate))(x), y)
