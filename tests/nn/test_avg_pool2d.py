"""nnslim.nn.AdaptiveAvgPool2d: torch's pool on float inputs; on an int8 NHWC edge the dequantized
channel means (qs8-gavgpool), shaped like torch's; bad inputs raise ValueError naming the problem."""
import pickle

import pytest
import torch
import torch.nn as nn

from nnslim.nn import AdaptiveAvgPool2d


@pytest.mark.parametrize("size", [1, (1, 1), (2, 3)])
def test_float_input_is_torchs_pool(size):
    x = torch.randn(2, 5, 7, 9)
    assert torch.equal(AdaptiveAvgPool2d(size)(x), nn.AdaptiveAvgPool2d(size)(x))


def test_int8_input_gives_dequantized_means():
    pool = AdaptiveAvgPool2d.from_float(nn.AdaptiveAvgPool2d((1, 1)))
    pool.set_input_qparams(0.04, -3)
    xq = torch.randint(-128, 128, (3, 6, 5, 70), dtype=torch.int8)
    y = pool(xq)
    assert y.shape == (3, 70, 1, 1) and y.dtype == torch.float32
    want = ((xq.double() + 3) * 0.04).mean((1, 2)).float()
    torch.testing.assert_close(y.flatten(1), want, rtol=1e-6, atol=1e-6)
    again = pickle.loads(pickle.dumps(pool))
    assert again.int8_input and torch.equal(again(xq), y)
    assert AdaptiveAvgPool2d(**pool.init_kwargs()).int8_input


def test_cached_qparams_follow_set_qparams_and_load_state_dict():
    xq = torch.randint(-128, 128, (2, 4, 3, 16), dtype=torch.int8)
    a, b = AdaptiveAvgPool2d(1), AdaptiveAvgPool2d(1)
    a.set_input_qparams(0.04, -3)
    b.set_input_qparams(0.5, 7)
    ya, yb = a(xq), b(xq)
    a.load_state_dict(b.state_dict())
    assert torch.equal(a(xq), yb)
    a.set_input_qparams(0.04, -3)
    assert torch.equal(a(xq), ya)


def test_bad_inputs():
    with pytest.raises(ValueError, match="int8 input, but no input qparams"):
        AdaptiveAvgPool2d(1)(torch.zeros(1, 2, 2, 3, dtype=torch.int8))
    with pytest.raises(ValueError, match="global pool"):
        AdaptiveAvgPool2d((2, 2)).set_input_qparams(0.1, 0)
    with pytest.raises(ValueError, match="global pool"):
        AdaptiveAvgPool2d((2, 2), int8_input=True)
    pool = AdaptiveAvgPool2d(1, int8_input=True)
    with pytest.raises(ValueError, match="qparams"):
        pool.set_input_qparams(0.0, 0)
    with pytest.raises(ValueError, match="NHWC"):
        pool(torch.zeros(2, 3, 4, dtype=torch.int8))
    with pytest.raises(TypeError, match="AdaptiveAvgPool2d"):
        AdaptiveAvgPool2d.from_float(nn.AvgPool2d(2))
