"""nnslim.nn.Int8ChannelMul: the squeeze-excite multiply on an int8 edge. int8 in / int8 out gives the
kernel's defined bytes, int8 in / fp32 out the dequantized product, float in torch's x * gate; it
pickles; bad inputs raise ValueError naming the problem."""
import pickle

import pytest
import torch

from nnslim.nn import Int8ChannelMul


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-128, 128, (2, 5, 6, 24), dtype=torch.int8, generator=g)
    gate = torch.rand(2, 24, 1, 1, generator=g)
    return x, gate


def test_int8_in_int8_out():
    x, gate = _data()
    m = Int8ChannelMul()
    m.set_input_qparams(0.05, -3)
    m.set_output_qparams(0.04, 2)
    y = m(x, gate)
    v = (x.float() + 3) * 0.05 * gate.reshape(2, 1, 1, 24)
    want = torch.clamp(torch.round(torch.clamp(v * (1 / 0.04), -1000, 1000)) + 2, -128, 127).to(torch.int8)
    assert y.dtype == torch.int8 and torch.equal(y, want)
    assert torch.equal(pickle.loads(pickle.dumps(m))(x, gate), y)
    assert Int8ChannelMul(**m.init_kwargs()).int8_output


def test_int8_in_fp32_out_and_float_path():
    x, gate = _data()
    m = Int8ChannelMul(int8_input=True)
    m.set_input_qparams(0.05, -3)
    y = m(x, gate)
    assert y.shape == (2, 24, 5, 6)
    torch.testing.assert_close(y, ((x.float() + 3) * 0.05 * gate.reshape(2, 1, 1, 24)).permute(0, 3, 1, 2))
    xf = torch.randn(2, 24, 5, 6)
    assert torch.equal(Int8ChannelMul()(xf, gate), xf * gate)


def test_bad_inputs():
    x, gate = _data()
    with pytest.raises(ValueError, match="no input qparams"):
        Int8ChannelMul()(x, gate)
    m = Int8ChannelMul(int8_input=True, int8_output=True)
    with pytest.raises(ValueError, match="gate"):
        m(x, torch.rand(2, 23, 1, 1))
    with pytest.raises(ValueError, match="NHWC"):
        m(x.permute(0, 3, 1, 2), gate)
    with pytest.raises(ValueError, match="qparams"):
        m.set_output_qparams(0.1, 300)


def test_cached_qparams_follow_set_qparams_and_load_state_dict():
    # The int8 fast path reads the qparams as Python numbers cached from the buffers: every way the
    # buffers change must drop that cache.
    x, gate = _data()
    a, b = Int8ChannelMul(), Int8ChannelMul()
    for m, (s, z) in ((a, (0.04, 2)), (b, (0.09, -5))):
        m.set_input_qparams(0.05, -3)
        m.set_output_qparams(s, z)
    ya, yb = a(x, gate), b(x, gate)
    assert not torch.equal(ya, yb)
    a.load_state_dict(b.state_dict())
    assert torch.equal(a(x, gate), yb)
    a.set_output_qparams(0.04, 2)
    assert torch.equal(a(x, gate), ya)
    a.set_input_qparams(0.1, 0)
    assert not torch.equal(a(x, gate), ya)
