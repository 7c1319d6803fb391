"""qs8 NHWC max pool (an int8 graph edge): every ISA path equals torch's max_pool2d on the same values,
over odd channel counts, kernel sizes, strides, padding, dilation, ceil_mode and batch; bad arguments
raise ValueError naming them."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnslim._native import C

CASES = [  # N, H, W, C, k, stride, pad, dilation, ceil_mode
    (1, 112, 112, 64, 3, 2, 1, 1, False), (1, 7, 9, 1, 3, 1, 1, 1, False), (2, 8, 8, 33, 2, 2, 0, 1, False),
    (1, 9, 7, 70, 3, 2, 1, 1, True), (3, 5, 6, 31, 3, 3, 1, 1, True), (1, 10, 10, 32, 3, 1, 1, 2, False),
    (1, 6, 5, 17, 5, 2, 2, 1, True), (1, 4, 4, 96, 1, 1, 0, 1, False), (1, 11, 13, 65, 2, 1, 1, 1, False),
    # a window larger than the padded input: with ceil_mode torch still gives one output per row
    (1, 1, 3, 8, 4, 3, 1, 1, True), (2, 2, 1, 5, 5, 4, 2, 1, True),
]


def _torch_ref(x, k, s, p, d, ceil):
    t = torch.from_numpy(x).permute(0, 3, 1, 2).float()
    return F.max_pool2d(t, k, s, p, d, ceil_mode=ceil).permute(0, 2, 3, 1).to(torch.int8).numpy()


@pytest.mark.parametrize("N,H,W,Cc,k,s,p,d,ceil", CASES)
def test_maxpool_matches_torch(isa, N, H, W, Cc, k, s, p, d, ceil):
    rng = np.random.default_rng(H * W + Cc)
    x = rng.integers(-128, 128, (N, H, W, Cc), dtype=np.int8)
    x[0, 0, 0, :] = -128  # extremes
    x[-1, -1, -1, :] = 127
    got = C.qs8_maxpool2d_nhwc(x, (k, k), (s, s), (p, p), (d, d), ceil, isa, 2)
    assert np.array_equal(got, _torch_ref(x, k, s, p, d, ceil))


def test_maxpool_rejects_bad_arguments():
    x = np.zeros((1, 4, 4, 8), np.int8)
    with pytest.raises(ValueError, match="padding"):
        C.qs8_maxpool2d_nhwc(x, (3, 3), (1, 1), (2, 2))
    with pytest.raises(ValueError, match="stride"):
        C.qs8_maxpool2d_nhwc(x, (3, 3), (0, 1))
    with pytest.raises(TypeError, match="x: expected dtype int8"):
        C.qs8_maxpool2d_nhwc(np.zeros((1, 4, 4, 8), np.float32), (2, 2), (2, 2))
    with pytest.raises(ValueError, match="too small"):
        C.qs8_maxpool2d_nhwc(x, (9, 9), (1, 1))


def test_module_runs_int8_nhwc_edges_and_refuses_bad_ones():
    """nnslim.nn.MaxPool2d on an int8 edge (another int8 node's NHWC output): int8 out, same values
    as torch on the dequantized input; fake output (torch.compile) has the real shape."""
    from nnslim.nn import MaxPool2d

    pool = MaxPool2d(3, 2, 1, ceil_mode=True)
    x = torch.randint(-128, 128, (2, 13, 11, 40), dtype=torch.int8)
    y = pool(x)
    want = torch.from_numpy(_torch_ref(x.numpy(), 3, 2, 1, 1, True))
    assert y.dtype == torch.int8 and torch.equal(y, want)
    assert pool._fake_output(x).shape == y.shape
    with pytest.raises(ValueError, match="contiguous CPU NHWC"):
        pool(x.permute(0, 2, 1, 3))
    with pytest.raises(ValueError, match="contiguous CPU NHWC"):
        MaxPool2d(2, return_indices=True)(x)


def test_window_missing_the_input_gives_the_lowest_value(isa):
    """k = 2, pad = 1, dilation 3 on H = 2: torch's size rule allows windows with no input row; fp32
    gives -inf like torch, int8 the lowest code."""
    from nnslim.nn import MaxPool2d

    xf = torch.randn(1, 3, 2, 5)
    pool = MaxPool2d((2, 1), 1, (1, 0), (3, 1))
    want = F.max_pool2d(xf, (2, 1), 1, (1, 0), (3, 1))
    assert torch.isinf(want).any()
    assert torch.equal(pool(xf), want)
    xq = torch.randint(-128, 128, (1, 2, 5, 3), dtype=torch.int8)
    got = C.qs8_maxpool2d_nhwc(xq.numpy(), (2, 1), (1, 1), (1, 0), (3, 1), False, isa)
    ref = F.max_pool2d(xq.permute(0, 3, 1, 2).float(), (2, 1), 1, (1, 0), (3, 1)).permute(0, 2, 3, 1)
    assert np.array_equal(got, torch.where(torch.isinf(ref), -128.0, ref).to(torch.int8).numpy())
