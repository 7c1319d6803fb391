"""nnslim.nn.AvgPool2d on an int8 edge, and the graph path keeping ResNet-D's average-pool shortcut
int8: the pool's output is torch's avg_pool2d of the dequantized input in the same qparams (to the
nearest code), the model converts with every node int8, and reloads bit for bit."""
import copy
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim.models import randomize_batchnorm
from nnslim.nn import AvgPool2d


def _dequantized_pool(x, scale, zp, **kw):
    t = (x.permute(0, 3, 1, 2).float() - zp) * scale
    return F.avg_pool2d(t, **kw).permute(0, 2, 3, 1)


@pytest.mark.parametrize("kw", [dict(kernel_size=2, stride=2, ceil_mode=True, count_include_pad=False),
                                dict(kernel_size=3, stride=1, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, divisor_override=4)])
def test_int8_input_is_torchs_pool_in_the_same_qparams(kw):
    pool = AvgPool2d(**kw)
    pool.set_input_qparams(0.05, -7)
    x = torch.randint(-128, 128, (2, 9, 7, 24), dtype=torch.int8)
    y = pool(x)
    assert y.dtype == torch.int8 and y.shape == pool._fake_output(x).shape
    # a divisor below the window's size can leave the code range: saturated there, as a requantizer does
    want = _dequantized_pool(x, 0.05, -7, **kw).clamp((-128 + 7) * 0.05, (127 + 7) * 0.05)
    got = (y.float() + 7) * 0.05
    assert (got - want).abs().max() <= 0.5 * 0.05 + 1e-6  # within half a code
    assert torch.equal(pool(torch.ones(1, 3, 6, 6)), nn.AvgPool2d(**kw)(torch.ones(1, 3, 6, 6)))  # float: torch
    for clone in (copy.deepcopy(pool), pickle.loads(pickle.dumps(pool))):
        assert torch.equal(clone(x), y)


def test_bad_int8_inputs_and_arguments_raise():
    pool = AvgPool2d(2)
    x = torch.zeros(1, 4, 4, 8, dtype=torch.int8)
    with pytest.raises(ValueError, match="no input qparams"):
        pool(x)
    pool.set_input_qparams(0.1, 0)
    with pytest.raises(ValueError, match="contiguous CPU NHWC"):
        pool(x.permute(0, 2, 1, 3))
    with pytest.raises(ValueError, match="divisor_override"):
        AvgPool2d(2, divisor_override=-2).set_input_qparams(0.1, 0)
    with pytest.raises(TypeError, match="nn.AvgPool2d"):
        AvgPool2d.from_float(nn.MaxPool2d(2))


class DownsampleD(nn.Module):
    """ResNet-D's block with a stride: conv path, and the shortcut AvgPool2d(2, 2, ceil_mode=True,
    count_include_pad=False) -> 1x1 conv -> BatchNorm; then a second block reading the sum."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.conv1 = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32))
        self.down = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False),
                                  nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32))
        self.act = nn.ReLU()
        self.head = nn.Conv2d(32, 8, 1)

    def forward(self, x):
        x = self.stem(x)
        return self.head(self.act(self.conv2(self.conv1(x)) + self.down(x)))


def test_resnet_d_shortcut_stays_int8_and_reloads(tmp_path):
    m = randomize_batchnorm(DownsampleD()).eval()
    calib = [torch.randn(1, 3, 15, 15) for _ in range(4)]  # odd: ceil_mode's clipped last window
    q = nnslim.quantize(m, nnslim.Int8StaticConfig(progress=False), calibration_data=calib)
    rows = q.meta["nnslim_report"]
    pool = [r for r in rows if r["op"] == "AvgPool2d"]
    assert len(pool) == 1 and pool[0]["runs"] == "int8"
    assert all(r["runs"] == "int8" for r in rows if r["op"] == "Int8Conv2d")
    assert "int8 out" in next(r["why"] for r in rows if r["op"] == "Int8Conv2d")  # the stem writes int8
    x = torch.randn(2, 3, 15, 15)
    with torch.no_grad():
        ref, y = m(x), q(x)
    assert F.cosine_similarity(ref.flatten(), y.flatten(), dim=0) > 0.999
    nnslim.save(q, tmp_path / "d.nns")
    with torch.no_grad():
        assert torch.equal(nnslim.load(tmp_path / "d.nns", DownsampleD())(x), y)
    compiled = torch.compile(q)
    with torch.no_grad():
        assert torch.equal(compiled(x), y)
