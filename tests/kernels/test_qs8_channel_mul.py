"""qs8 channel multiply (the squeeze-excite gate on an int8 edge): every ISA path gives exactly
requant(float(q - zp) * scale * gate[n, c]) with the static requantizer (saturating; a NaN gate gives
the output zero point), over odd channel counts, batch and map sizes; bad arguments raise ValueError."""
import numpy as np
import pytest

from nnslim._native import C


def _want(x, xs, xz, g, os_, oz):
    f32 = np.float32
    v = (x.astype(f32) - f32(xz)) * f32(xs) * g[:, None, None, :]
    t = np.clip(v * (f32(1) / f32(os_)), -1000, 1000)
    q = np.where(np.isnan(t), 0, np.rint(np.nan_to_num(t))) + oz
    return np.clip(q, -128, 127).astype(np.int8)


@pytest.mark.parametrize("shape", [(1, 28, 28, 72), (2, 7, 7, 960), (3, 5, 3, 17), (1, 1, 1, 1), (1, 14, 14, 672),
                                   (2, 3, 4, 29), (1, 2, 5, 12), (1, 3, 3, 4), (2, 2, 3, 20), (1, 3, 2, 6)])
def test_channel_mul_matches_definition(isa, shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-128, 128, shape, dtype=np.int8)
    g = rng.random((shape[0], shape[3])).astype(np.float32)
    g[:, ::5] = 1.0
    g[0, 0] = np.nan
    for threads in (1, 2):
        got = C.qs8_channel_mul_nhwc(x, 0.05, -3, g, 0.04, 7, isa=isa, num_threads=threads)
        np.testing.assert_array_equal(got, _want(x, 0.05, -3, g, 0.04, 7))


def test_channel_mul_bad_arguments():
    x = np.zeros((1, 2, 2, 4), np.int8)
    g = np.ones((1, 4), np.float32)
    with pytest.raises(ValueError, match="gate"):
        C.qs8_channel_mul_nhwc(x, 0.1, 0, np.ones((1, 5), np.float32), 0.1, 0)
    with pytest.raises(ValueError, match="x_scale"):
        C.qs8_channel_mul_nhwc(x, 0.0, 0, g, 0.1, 0)
    with pytest.raises(ValueError, match="output_zero_point"):  # the argument, by its Python name
        C.qs8_channel_mul_nhwc(x, 0.1, 0, g, 0.1, 200)
    with pytest.raises(ValueError, match="output_scale"):
        C.qs8_channel_mul_nhwc(x, 0.1, 0, g, float("inf"), 0)
    with pytest.raises(ValueError, match="x"):
        C.qs8_channel_mul_nhwc(np.zeros((2, 2, 4), np.int8), 0.1, 0, g, 0.1, 0)
