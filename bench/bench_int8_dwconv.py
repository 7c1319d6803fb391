"""Depthwise Int8Conv2d (the qs8-dwconv kernel) vs fp32 depthwise nn.Conv2d and torch.ao static int8,
on MobileNetV2 / V3 depthwise layers at batch 1; fp32 in and out for every contender (torch.ao with
its quant / dequant stubs, nnslim quantizing on entry), interleaved.

    python bench/bench_int8_dwconv.py [--quick]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).parent))
from bench_int8_conv2d import _ao_static, timing_cells  # noqa: E402
from nnslim.benchmarks import interleaved_medians, markdown_table  # noqa: E402

import nnslim  # noqa: E402
from nnslim.nn import Int8Conv2d  # noqa: E402

# channels, input size, kernel, stride: MobileNetV2 (3x3) and MobileNetV3-Large (5x5) depthwise layers
LAYERS = [(32, 112, 3, 1), (96, 112, 3, 2), (144, 56, 3, 1), (192, 28, 3, 1), (384, 14, 3, 1), (960, 7, 3, 1),
          (72, 56, 5, 2), (120, 28, 5, 1), (672, 14, 5, 2), (960, 7, 5, 1)]


def contenders(c: int, hw: int, k: int, s: int):
    torch.manual_seed(0)
    conv = nn.Conv2d(c, c, k, s, k // 2, groups=c).eval()
    x = torch.randn(1, c, hw, hw).relu()
    q = Int8Conv2d.from_float(conv, input_qparams=(x.max().item() / 255, -128))
    assert q.depthwise
    ao = _ao_static(conv, x)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    return {"fp32": lambda: conv(x_cl), "nnslim": lambda: q(x_cl), "ao_x86": lambda: ao(x_cl)}


def run_table(quick: bool = False) -> str:
    torch.set_num_threads(2)
    rows = []
    with torch.inference_mode():
        for c, hw, k, s in (LAYERS[:3] if quick else LAYERS):
            t = interleaved_medians(contenders(c, hw, k, s), rounds=5 if quick else 11)
            rows.append([f"{c}ch {hw}x{hw} {k}x{k} s{s}"] + timing_cells(t, digits=3))
    return markdown_table(["depthwise layer", "fp32 ms", "torch.ao x86 ms", "nnslim ms", "vs fp32", "vs torch.ao"],
                          rows)


@pytest.mark.parametrize("who", ["nnslim", "fp32", "ao_x86"])
def test_bench_int8_dwconv(benchmark, who):
    fns = contenders(144, 56, 3, 1)
    with torch.inference_mode():
        benchmark(fns[who])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    info = nnslim.cpu_info()
    print(f"# depthwise Int8Conv2d, {info['cpu']}, {info['selected']}, {torch.get_num_threads()} threads\n")
    print(run_table(args.quick))
