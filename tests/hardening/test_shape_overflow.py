"""Shapes whose int32 arithmetic would wrap must be refused before any kernel runs (found by review:
each of these corrupted the heap or segfaulted before the checks were made int64)."""
import numpy as np
import pytest

from nnslim._native import C


def test_conv_out_channels_overflow_refused():
    groups = 65536
    w = C.PackedQs8Weights(np.ones((65536, 1), np.int8), isa="scalar")
    x = np.zeros((1, 1, 1, groups), np.float32)
    with pytest.raises(ValueError, match="out_channels"):
        C.qs8_conv2d_static(x, [w] * groups, (1, 1), (1, 1), (0, 0), (1, 1), groups, 0.1, 0,
                            np.ones(0, np.float32), None, False, 1)


def test_conv_kernel_size_product_overflow_refused():
    w = C.PackedQs8Weights(np.ones((1, 65536), np.int8), isa="scalar")
    x = np.zeros((1, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match="in_features"):
        C.qs8_conv2d_static(x, [w], (65537, 65536), (1, 1), (32768, 32768), (1, 1), 1, 0.1, 0,
                            np.ones(1, np.float32), None, False, 1)


def test_conv_padding_overflow_refused():
    w = C.PackedQs8Weights(np.ones((1, 1), np.int8), isa="scalar")
    x = np.zeros((1, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match="exceeds 2"):
        C.qs8_conv2d_static(x, [w], (1, 1), (1, 1), (2**31 - 1, 0), (1, 1), 1, 0.1, 0,
                            np.ones(1, np.float32), None, False, 1)


def test_sparse_conv_padding_overflow_refused():
    big = 2**31 - 1
    with pytest.raises(ValueError, match="exceeds 2"):
        op = C.SparseConv2dF32(np.array([0, 1], np.int64), np.array([0], np.int32), np.ones(1, np.float32),
                               [1, 1, 1, 1], stride=[4096, 1], padding=[big, big, 0, 0], dilation=[1, 1],
                               isa="scalar")
        op.forward(np.ones((1, 1, 10, 1), np.float32))
