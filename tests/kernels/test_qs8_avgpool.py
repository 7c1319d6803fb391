"""qs8 NHWC average pool (an int8 graph edge): the AVX2 path equals the scalar definition byte for
byte, and both equal torch's avg_pool2d on the dequantized values, rounded to nearest even in the
input's own scale and zero point, over odd channel counts, kernel sizes, strides, padding, ceil_mode,
count_include_pad, divisor_override, zero points and batch; bad arguments raise ValueError naming them."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nnslim._native import C

CASES = [  # N, H, W, C, k, stride, pad, ceil_mode, count_include_pad, divisor_override, zero_point
    (1, 56, 56, 64, 2, 2, 0, True, False, None, -128),  # ResNet-D's shortcut pool
    (1, 7, 7, 33, 2, 2, 0, True, False, None, 5),  # odd size: ceil_mode's clipped last window
    (2, 9, 8, 17, 3, 1, 1, False, True, None, -3), (1, 9, 8, 17, 3, 1, 1, False, False, None, -3),
    (1, 10, 11, 70, 3, 2, 1, True, True, None, 0), (3, 5, 6, 16, 2, 2, 1, True, False, 3, 100),
    (1, 4, 4, 1, 1, 1, 0, False, True, None, -128), (1, 13, 12, 48, 5, 3, 2, True, True, 7, -50),
    (1, 1, 3, 8, 4, 3, 1, True, False, None, 10),  # a window larger than the padded input
    (1, 14, 14, 256, 14, 14, 0, False, True, None, -120),  # a whole-map window: 196 pixels per output
]


def torch_reference(x, k, s, p, ceil, cip, div, zp):
    t = torch.from_numpy(x.astype(np.float32) - zp).permute(0, 3, 1, 2)
    y = F.avg_pool2d(t, k, s, p, ceil, cip, div).permute(0, 2, 3, 1).numpy()
    return np.clip(np.rint(y) + zp, -128, 127).astype(np.int8)


@pytest.mark.parametrize("N,H,W,Cc,k,s,p,ceil,cip,div,zp", CASES)
def test_avgpool_matches_reference_and_torch(isa, N, H, W, Cc, k, s, p, ceil, cip, div, zp):
    rng = np.random.default_rng(H * W + Cc)
    x = rng.integers(-128, 128, (N, H, W, Cc), dtype=np.int8)
    x[0, 0, 0, :] = -128  # extremes
    x[-1, -1, -1, :] = 127
    args = ((k, k), (s, s), (p, p), ceil, cip, div, zp)
    got = C.qs8_avgpool2d_nhwc(x, *args, isa, 2)
    assert np.array_equal(got, C.qs8_avgpool2d_nhwc(x, *args, "scalar", 1))
    assert np.array_equal(got, torch_reference(x, k, s, p, ceil, cip, div, zp))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 40), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 3), st.integers(0, 2), st.booleans(), st.booleans(), st.integers(-128, 127),
       st.one_of(st.none(), st.integers(1, 12)), st.integers(0, 2**32 - 1))
def test_avgpool_random_shapes(H, W, Cc, kh, kw, s, p, ceil, cip, zp, div, seed):
    p = min(p, kh // 2, kw // 2)
    x = np.random.default_rng(seed).integers(-128, 128, (2, H, W, Cc), dtype=np.int8)
    try:
        want = torch_reference(x, (kh, kw), s, p, ceil, cip, div, zp)
    except RuntimeError:  # torch refuses the shape too
        with pytest.raises(ValueError):
            C.qs8_avgpool2d_nhwc(x, (kh, kw), (s, s), (p, p), ceil, cip, div, zp)
        return
    args = ((kh, kw), (s, s), (p, p), ceil, cip, div, zp)
    got = C.qs8_avgpool2d_nhwc(x, *args, None, 2)
    assert np.array_equal(got, C.qs8_avgpool2d_nhwc(x, *args, "scalar", 1))
    assert np.array_equal(got, want)


def test_avgpool_rejects_bad_arguments():
    x = np.zeros((1, 4, 4, 8), np.int8)
    with pytest.raises(ValueError, match="padding"):
        C.qs8_avgpool2d_nhwc(x, (3, 3), (1, 1), (2, 2))
    with pytest.raises(ValueError, match="stride"):
        C.qs8_avgpool2d_nhwc(x, (3, 3), (0, 1))
    with pytest.raises(ValueError, match="zero_point"):
        C.qs8_avgpool2d_nhwc(x, (2, 2), (2, 2), zero_point=128)
    with pytest.raises(ValueError, match="divisor_override"):
        C.qs8_avgpool2d_nhwc(x, (2, 2), (2, 2), divisor_override=0)
    with pytest.raises(TypeError, match="x: expected dtype int8"):
        C.qs8_avgpool2d_nhwc(np.zeros((1, 4, 4, 8), np.float32), (2, 2), (2, 2))
    with pytest.raises(ValueError, match="too small"):
        C.qs8_avgpool2d_nhwc(x, (9, 9), (1, 1))
