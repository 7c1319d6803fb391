"""qs8 global average pool (AdaptiveAvgPool2d(1) on an int8 edge): every ISA path gives exactly the
defined value, (float32(sum(q) - zp * H * W) * scale) / float32(H * W), over odd channel counts
(the AVX2 32- and 8-channel steps and their tails), map sizes, batch and zero points; bad arguments
raise ValueError naming them."""
import numpy as np
import pytest

from nnslim._native import C


def _want(x, scale, zp):
    n, h, w, c = x.shape
    s = x.reshape(n, -1, c).astype(np.int64).sum(1) - zp * h * w
    return (s.astype(np.float32) * np.float32(scale)) / np.float32(h * w)


@pytest.mark.parametrize("shape", [(1, 7, 7, 512), (2, 1, 1, 3), (3, 5, 4, 33), (1, 14, 14, 960), (1, 2, 3, 7),
                                   (2, 56, 56, 72), (1, 1, 9, 100)])
@pytest.mark.parametrize("zp", [0, -128, 37])
def test_gavgpool_matches_definition(isa, shape, zp):
    x = np.random.default_rng(sum(shape)).integers(-128, 128, shape, dtype=np.int8)
    want = _want(x, 0.037, zp)
    for threads in (1, 2):
        got = C.qs8_global_avgpool_nhwc(x, 0.037, zp, isa=isa, num_threads=threads)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_gavgpool_extremes_are_exact():
    x = np.full((1, 64, 64, 40), 127, np.int8)
    np.testing.assert_array_equal(C.qs8_global_avgpool_nhwc(x, 0.5, -128), np.full((1, 40), 127.5, np.float32))
    x[:] = -128
    np.testing.assert_array_equal(C.qs8_global_avgpool_nhwc(x, 0.5, -128), np.zeros((1, 40), np.float32))


def test_gavgpool_bad_arguments():
    x = np.zeros((1, 2, 2, 4), np.int8)
    with pytest.raises(ValueError, match="x"):
        C.qs8_global_avgpool_nhwc(np.zeros((2, 2, 4), np.int8), 0.1, 0)
    with pytest.raises((ValueError, TypeError), match="x"):
        C.qs8_global_avgpool_nhwc(x.astype(np.float32), 0.1, 0)
    with pytest.raises(ValueError, match="scale"):
        C.qs8_global_avgpool_nhwc(x, -1.0, 0)
    with pytest.raises(ValueError, match="zero_point"):
        C.qs8_global_avgpool_nhwc(x, 0.1, 128)
    with pytest.raises(ValueError, match="H \\* W"):
        C.qs8_global_avgpool_nhwc(np.zeros((1, 0, 3, 4), np.int8), 0.1, 0)
