"""The im2col conv's task partition (qs8_conv2d_static: per-thread row shares cut equal, column splits
for few pixels, per-thread columns for large weights): every thread count gives the single-thread
result bit for bit, and that result is the convolution, on pixel counts that hit every branch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnslim._native import C

# (batch, H, W, C, Cout, k, stride): 784 rows (28 x 28, equal shares), 196 (14 x 14), 49 (7 x 7: column
# splits), 429 (3 x 13 x 11: shares off tile boundaries), 49 and 196 over 1.2 MB of weights (per-thread
# columns), a strided conv.
SHAPES = [(1, 28, 28, 16, 32, 3, 1), (1, 14, 14, 64, 48, 3, 1), (1, 7, 7, 128, 64, 3, 1), (3, 13, 11, 24, 40, 3, 1),
          (1, 7, 7, 256, 512, 3, 1), (1, 14, 14, 256, 512, 3, 1), (2, 29, 31, 16, 24, 3, 2)]


@pytest.mark.parametrize("n,h,w,c,cout,k,stride", SHAPES)
def test_conv_equal_for_every_thread_count(isa, n, h, w, c, cout, k, stride):
    rng = np.random.default_rng(h * w + c)
    wq = rng.integers(-127, 128, (cout, k, k, c), dtype=np.int8)
    x = rng.integers(0, 128, (n, h, w, c), dtype=np.int8)
    ws = (rng.random(cout) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    packed = [C.PackedQs8Weights(wq.reshape(cout, -1), isa)]
    pad = k // 2

    def run(threads):
        return C.qs8_conv2d_static(x, packed, (k, k), (stride, stride), (pad, pad), (1, 1), 1, 0.05, 0, ws, bias,
                                   False, threads)

    one = run(1)
    for threads in (2, 3, 4, 7):
        np.testing.assert_array_equal(run(threads), one, err_msg=f"{threads} threads")
    acc = F.conv2d(torch.from_numpy(x).permute(0, 3, 1, 2).double(), torch.from_numpy(wq).permute(0, 3, 1, 2).double(),
                   stride=stride, padding=pad)
    want = (acc * torch.from_numpy(ws * np.float32(0.05)).double()[:, None, None] +
            torch.from_numpy(bias).double()[:, None, None]).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(one, want, rtol=1e-5, atol=1e-4)
