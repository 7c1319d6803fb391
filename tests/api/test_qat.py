"""QAT: fake-quant wrappers train, and convert() gives kernel drop-ins that match the fake-quant model."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim.nn import Int8Conv2d, Int8Linear
from nnslim.quantization.fake_quant import round_ste
from nnslim.quantization.qat import QATConv2d, QATLinear


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


def test_round_ste_gradient_is_identity():
    x = torch.tensor([0.2, 1.7], requires_grad=True)
    round_ste(x).sum().backward()
    assert torch.equal(x.grad, torch.ones(2))


@pytest.mark.parametrize("learnable", [False, True])
def test_qat_trains_and_converts_close_to_fake_quant(learnable):
    m = nnslim.prepare_qat(_model(), nnslim.QATConfig(learnable_scales=learnable))
    assert isinstance(m[0], QATConv2d) and isinstance(m[3], QATLinear)
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    x, y = torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    m.eval()
    with torch.no_grad():
        fq = m(x)
    nnslim.convert(m)
    assert isinstance(m[0], Int8Conv2d) and isinstance(m[3], Int8Linear) and m[3].static
    with torch.no_grad():
        out = m(x)
    assert ((out - fq).norm() / fq.norm()) < 0.02


def test_qat_bad_config():
    with pytest.raises(ValueError, match="weights"):
        nnslim.QATConfig(weights="int2")
    with pytest.raises(ValueError, match="group_size"):
        nnslim.QATConfig(weights="int4", group_size=48)
    with pytest.raises(TypeError, match="QATConfig"):
        nnslim.prepare_qat(_model(), "int8")
    with pytest.warns(UserWarning, match="no eligible"):
        nnslim.prepare_qat(nn.Sequential(nn.ReLU()))


def test_int4_qat_converts_to_the_trained_grid():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    nnslim.prepare_qat(m, nnslim.QATConfig(weights="int4", group_size=32))
    assert isinstance(m[0], QATLinear) and isinstance(m[2], QATLinear)
    x = torch.randn(16, 64)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(5):
        opt.zero_grad()
        m(x).square().mean().backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        fq = m(x)
        w_fq = m[0].weight_fq(m[0].linear.weight)
    nnslim.convert(m)
    from nnslim.nn import Int4Linear

    assert isinstance(m[0], Int4Linear)
    torch.testing.assert_close(m[0].dequantized_weight(), w_fq, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        out = m(x)
    # only the run-time int8 activation rounding differs from the fake-quant model
    assert ((out - fq).norm() / fq.norm()) < 0.02
