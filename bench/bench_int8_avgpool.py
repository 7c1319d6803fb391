"""The int8 NHWC average pool (qs8-avgpool, nnslim.nn.AvgPool2d on an int8 edge) vs torch.ao's quantized
avg_pool2d (a quint8 channels_last tensor, the peer's own int8 edge) and torch's fp32 channels_last
avg_pool2d, on ResNet-D's shortcut pools (2x2 / 2, ceil_mode, count_include_pad=False) and a 3x3 / 1
pool, batch 1, interleaved. int8 in and out for both int8 contenders: what the pool costs between two
int8 convs (the module called on an int8 tensor, and the lowered graph's direct hand-off).

    python bench/bench_int8_avgpool.py [--quick]
"""
from __future__ import annotations

import argparse
import platform

import pytest
import torch
import torch.nn.functional as F

import nnslim
from nnslim.benchmarks import interleaved_medians, markdown_table
from nnslim.nn import AvgPool2d

# channels, input size, kernel, stride, padding, ceil_mode, count_include_pad
LAYERS = [(256, 56, 2, 2, 0, True, False), (512, 28, 2, 2, 0, True, False), (1024, 14, 2, 2, 0, True, False),
          (64, 56, 3, 1, 1, False, True)]


def contenders(c, hw, k, s, p, ceil, cip):
    torch.manual_seed(0)
    pool = AvgPool2d(k, s, p, ceil, cip)
    pool.set_input_qparams(0.05, -128)
    xq = torch.randint(-128, 128, (1, hw, hw, c), dtype=torch.int8)  # an int8 NHWC edge
    xq_np = xq.numpy()
    x = (xq.float() + 128) * 0.05
    x_cl = x.permute(0, 3, 1, 2)  # NCHW view of NHWC memory: channels_last
    ao_in = torch.quantize_per_tensor(x_cl, 0.05, 0, torch.quint8)
    assert ao_in.is_contiguous(memory_format=torch.channels_last)
    return {"fp32": lambda: F.avg_pool2d(x_cl, k, s, p, ceil, cip),
            "torch.ao": lambda: F.avg_pool2d(ao_in, k, s, p, ceil, cip),
            "nnslim": lambda: pool(xq),  # the module on an int8 tensor (torch-op dispatch included)
            "nnslim_plan": lambda: pool._int8_call(xq_np)}  # what the lowered graph calls


def run_table(quick: bool = False) -> str:
    torch.set_num_threads(2)
    rows = []
    for layer in LAYERS:
        with torch.inference_mode():
            t = interleaved_medians(contenders(*layer), rounds=5 if quick else 15)
        c, hw, k, s, p, ceil, cip = layer
        rows.append([f"{c} x {hw}x{hw}, {k}x{k} / {s}{', ceil' if ceil else ''}{'' if cip else ', no pad count'}",
                     f"{t['fp32'] * 1e6:.1f}", f"{t['torch.ao'] * 1e6:.1f}", f"{t['nnslim'] * 1e6:.1f}",
                     f"{t['nnslim_plan'] * 1e6:.1f}", f"{t['torch.ao'] / t['nnslim_plan']:.2f}x",
                     f"{t['fp32'] / t['nnslim_plan']:.2f}x"])
    return markdown_table(["pool (batch 1)", "fp32 us", "torch.ao quint8 us", "nnslim module us",
                           "nnslim in a graph us", "vs torch.ao", "vs fp32"], rows)


@pytest.mark.parametrize("layer", LAYERS[:2])
def test_bench_int8_avgpool(benchmark, layer):
    torch.set_num_threads(2)
    fns = contenders(*layer)
    with torch.inference_mode():
        benchmark(fns["nnslim"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"# int8 average pool, {platform.processor() or platform.machine()}, {nnslim.cpu_info()['selected']}, "
          f"2 threads, torch {torch.__version__}\n")
    print(run_table(args.quick))
