"""Kernel outputs start on 64-byte boundaries (csrc/bindings/aligned_array.h): an int8 NHWC edge is
the next layer's input, whose 64-byte rows AMX tiles and zmm loads read whole; numpy's own buffers
are only 16-byte aligned, which split every such row across two cache lines."""
import numpy as np
import pytest

from nnslim._native import C


def _aligned(a):
    return a.ctypes.data % 64 == 0


@pytest.mark.parametrize("shape", [(1, 56, 56, 64), (8, 7, 7, 24), (1, 1, 1, 3)])
def test_int8_edge_outputs_are_64_byte_aligned(shape):
    rng = np.random.default_rng(0)
    N, H, W, Cin = shape
    x = rng.integers(-128, 128, shape, dtype=np.int8)
    w = rng.integers(-128, 128, (16, 9 * Cin), dtype=np.int8)
    pk = [C.PackedQs8Weights(w, "scalar")]
    ws = np.full(16, 1e-3, np.float32)
    b = np.zeros(16, np.float32)
    for _ in range(4):  # several allocations of each size, as a model's calls make them
        ys = [
            C.qs8_conv2d_static(x, pk, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.03, 0, ws, b, False, 1,
                                output_scale=0.05, output_zero_point=0),
            C.qs8_conv2d_static(x, pk, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.03, 0, ws, b, False, 1),
            C.qs8_maxpool2d_nhwc(x, (3, 3), (2, 2), (1, 1)),
            C.qs8_channel_mul_nhwc(x, 0.05, 0, np.ones((N, Cin), np.float32), 0.05, 0),
            C.qs8_quantize_nchw_to_nhwc(rng.standard_normal((N, Cin, H, W)).astype(np.float32), 0.03, 0)[0],
        ]
        for y in ys:
            assert _aligned(y), (y.shape, y.dtype, y.ctypes.data % 64)
        assert ys[0].dtype == np.int8 and ys[0].shape == (N, H, W, 16) and ys[0].flags["C_CONTIGUOUS"]
