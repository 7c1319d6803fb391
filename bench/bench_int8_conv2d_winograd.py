"""The integer Winograd F(2x2, 3x3) path (csrc/kernels/qs8-winograd/) against the im2col GEMM it
replaces on AVX2, on ResNet's stride-1 3x3 convs as the int8 graph calls them: int8 NHWC in, ReLU,
int8 NHWC out, 2 threads. The im2col path runs 8-bit activations on the weights' s16 layout (the
faster one for signed codes, PackHint::signed_activations) and 7-bit ones (activation_bits=7) on the
s8 layout without a sign step; Winograd's s16 products take either at the same speed. Interleaved
medians; the weights are packed for AVX2 on any CPU that has it.

    python bench/bench_int8_conv2d_winograd.py [--quick]
    pytest bench/bench_int8_conv2d_winograd.py --benchmark-only
"""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from nnslim import _native
from nnslim.benchmarks import interleaved_medians, markdown_table

LAYERS = [(64, 56), (128, 28), (256, 14), (512, 7)]  # channels, spatial size: ResNet-18 / -50 stages
BATCHES = [1, 8]
THREADS = 2


def _plan(w, c, zp, mode, signed=False):
    C = _native.C
    rng = np.random.default_rng(1)
    ws = np.full(c, 0.002, np.float32)
    bias = rng.standard_normal(c).astype(np.float32)
    packed = C.PackedQs8Weights(w, "avx2", signed_activations=signed)
    return C.Qs8Conv2dPlan([packed], (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.03, zp, ws, bias, False, activation="relu",
                           output_scale=0.05, output_zero_point=-128, winograd=mode)


def contenders(c: int, hw: int, n: int) -> dict:
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (c, 9 * c), dtype=np.int8)
    x8 = rng.integers(-128, 128, (n, hw, hw, c), dtype=np.int8)  # 8-bit activations, zero point -3
    x7 = rng.integers(0, 128, (n, hw, hw, c), dtype=np.int8)     # 7-bit: [0, 127], zero point 0
    im8, im7, wino = _plan(w, c, -3, "never", signed=True), _plan(w, c, 0, "never"), _plan(w, c, -3, "always")
    assert wino.uses_winograd(x8) and not im8.uses_winograd(x8)
    assert np.array_equal(wino(x8, None, THREADS), im8(x8, None, THREADS))
    return {"im2col 8-bit": lambda: im8(x8, None, THREADS), "im2col 7-bit": lambda: im7(x7, None, THREADS),
            "winograd": lambda: wino(x8, None, THREADS)}


def run_table(quick: bool = False) -> str:
    rows = []
    for c, hw in LAYERS:
        for n in ([1] if quick else BATCHES):
            t = interleaved_medians(contenders(c, hw, n), rounds=5 if quick else 9)
            us = lambda k: f"{t[k] * 1e6:.0f}"  # noqa: E731
            rows.append([f"{c}ch {hw}x{hw}", n, us("im2col 8-bit"), us("im2col 7-bit"), us("winograd"),
                         f"{t['im2col 8-bit'] / t['winograd']:.2f}x", f"{t['im2col 7-bit'] / t['winograd']:.2f}x"])
    return markdown_table(["layer (3x3, stride 1)", "batch", "im2col 8-bit us", "im2col 7-bit us", "winograd us",
                           "vs 8-bit", "vs 7-bit"], rows)


def _need_avx2():
    if not _native.has_cpu_kernels() or "avx2" not in _native.C.cpu_info()["available"]:
        pytest.skip("needs the AVX2 kernels")


@pytest.mark.parametrize("who", ["winograd", "im2col 8-bit", "im2col 7-bit"])
def test_bench_int8_conv2d_winograd(benchmark, who):
    _need_avx2()
    benchmark(contenders(64, 56, 1)[who])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    info = _native.C.cpu_info()
    print(f"# Winograd F(2x2, 3x3) vs im2col, AVX2 weights, CPU path {info['selected']}, {THREADS} threads\n")
    print(run_table(args.quick))
