"""f32-maxpool: nnslim.nn.MaxPool2d and its NCHW kernel give torch's max_pool2d results on every path
(strides, padding, dilation, ceil_mode, NaN / Inf), fall back to torch where they do not apply, and
refuse bad arguments with errors naming them."""
import copy
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn


@pytest.mark.parametrize("kwargs,shape", [
    (dict(kernel_size=3, stride=2, padding=1), (1, 64, 56, 56)),
    (dict(kernel_size=2, stride=2, ceil_mode=True), (2, 3, 9, 7)),
    (dict(kernel_size=3, stride=1, padding=1, dilation=2), (1, 5, 8, 8)),
    (dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)), (3, 4, 5, 6)),
    (dict(kernel_size=(3, 2), stride=3, padding=1, dilation=(2, 1), ceil_mode=True), (1, 3, 10, 11)),
    (dict(kernel_size=5, stride=1, padding=2), (4, 5, 5)),  # unbatched
    # windows larger than the padded input: with ceil_mode still one output (torch's rounding down)
    (dict(kernel_size=4, stride=3, padding=1, ceil_mode=True), (1, 3, 1, 3)),
    (dict(kernel_size=5, stride=4, padding=2, ceil_mode=True), (2, 2, 2, 1)),
])
def test_max_pool_equals_torch_on_every_path(isa, kwargs, shape):
    from nnslim._native import C
    from nnslim.nn import MaxPool2d

    torch.manual_seed(0)
    x = torch.randn(*shape)
    x.view(-1)[3] = float("nan")
    x.view(-1)[-1] = float("inf")
    pool = MaxPool2d(**kwargs)
    want = nn.MaxPool2d(**kwargs)(x)
    with torch.no_grad():
        got = pool(x)
    assert got.shape == want.shape and torch.equal(got.nan_to_num(7.0), want.nan_to_num(7.0))
    assert torch.isnan(got).any() == torch.isnan(want).any()
    x4 = x if x.dim() == 4 else x.unsqueeze(0)
    k = tuple(pool.kernel_size) if isinstance(pool.kernel_size, tuple) else (pool.kernel_size,) * 2
    pair = lambda v: tuple(v) if isinstance(v, tuple) else (v, v)  # noqa: E731
    args = (k, pair(pool.stride), pair(pool.padding), pair(pool.dilation), pool.ceil_mode)
    np.testing.assert_array_equal(C.f32_maxpool2d(x4.numpy(), *args, isa, 2), C.ref_f32_maxpool2d(x4.numpy(), *args))


def test_max_pool_falls_back_and_refuses_bad_input():
    from nnslim._native import C
    from nnslim.nn import MaxPool2d

    pool = MaxPool2d(3, 2, 1)
    x = torch.randn(1, 4, 9, 9)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(pool(cl), nn.MaxPool2d(3, 2, 1)(cl))  # torch's path (fast for channels_last)
    g = x.clone().requires_grad_()
    pool(g).sum().backward()  # autograd: torch's path
    assert g.grad is not None
    assert torch.equal(MaxPool2d(2, return_indices=True)(x)[1], nn.MaxPool2d(2, return_indices=True)(x)[1])
    with pytest.raises(ValueError, match="padding"):
        C.f32_maxpool2d(x.numpy(), (3, 3), (1, 1), (2, 2))
    with pytest.raises(ValueError, match="too small"):
        C.f32_maxpool2d(np.ones((1, 1, 2, 2), np.float32), (3, 3), (1, 1))
    with pytest.raises(ValueError, match="stride"):
        C.f32_maxpool2d(x.numpy(), (3, 3), (0, 1))
    with pytest.raises(TypeError, match="float32"):
        C.f32_maxpool2d(x.double().numpy(), (3, 3), (1, 1))
    with pytest.raises(TypeError, match="nn.MaxPool2d"):
        MaxPool2d.from_float(nn.AvgPool2d(2))
    for clone in (copy.deepcopy(pool), pickle.loads(pickle.dumps(pool))):
        with torch.no_grad():
            assert torch.equal(clone(x), pool(x))


def test_max_pool_under_torch_compile():
    from nnslim.nn import MaxPool2d
    from nnslim.nn._torch_ops import HAVE_CUSTOM_OP

    if not HAVE_CUSTOM_OP:
        pytest.skip("torch.library.custom_op needs torch >= 2.4")
    m = nn.Sequential(nn.ReLU(), MaxPool2d(3, 2, 1))
    x = torch.randn(1, 8, 17, 17)
    with torch.no_grad():
        want = m(x)
        assert torch._dynamo.explain(m)(x).graph_break_count == 0
        torch._dynamo.reset()
        got = torch.compile(m, backend="eager")(x)
        torch._dynamo.reset()
    assert torch.equal(got, want)
