"""The direct grouped int8 conv (qs8-gconv, an Int8Conv2d with 1 < groups < channels) vs torch.ao's
quantized conv2d (fbgemm's grouped kernels, on a quint8 channels_last tensor: the peer's own int8
edge), the per-group GEMM path it replaces (one im2col + GEMM per group, called through the same
plan API in the same run) and torch's fp32 channels_last conv, on ResNeXt-50 32x4d's grouped 3x3
convs and RegNetX-style group widths, batch 1, interleaved. int8 in and out with a fused ReLU for
the int8 contenders: what the conv costs between two int8 nodes of a graph.

    python bench/bench_int8_gconv.py [--quick]
"""
from __future__ import annotations

import argparse
import platform

import numpy as np
import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim._native import C
from nnslim.benchmarks import interleaved_medians, markdown_table
from nnslim.nn import Int8Conv2d

# channels, input size, groups, stride (3x3, padding 1, in == out channels)
LAYERS = [(128, 56, 32, 1), (256, 56, 32, 2), (256, 28, 32, 1), (512, 14, 32, 1), (1024, 7, 32, 1),
          (64, 56, 8, 1), (152, 14, 19, 1)]

IN_SCALE, IN_ZP, OUT_SCALE, OUT_ZP = 0.05, -128, 0.08, -128


def contenders(c, hw, g, s):
    torch.manual_seed(0)
    conv = nn.Conv2d(c, c, 3, s, 1, groups=g).eval()
    mod = Int8Conv2d.from_float(conv, input_qparams=(IN_SCALE, IN_ZP), relu=True)
    mod.set_output_qparams(OUT_SCALE, OUT_ZP)
    mod.pack()
    assert mod.grouped_direct, "this geometry should take the direct grouped kernel"
    xq = torch.randint(-128, 128, (1, hw, hw, c), dtype=torch.int8)  # an int8 NHWC edge
    xq_np = xq.numpy()
    # The per-group GEMM path on the same int8 weights, qparams and edges (what Int8Conv2d ran before).
    isa = C.selected_isa()
    w = mod.weight_int8.permute(0, 2, 3, 1).reshape(c, -1)
    cout_g = c // g
    per_group = [C.PackedQs8Weights(w[i * cout_g:(i + 1) * cout_g].contiguous().numpy(), isa) for i in range(g)]
    gemm_plan = C.Qs8Conv2dPlan(per_group, (3, 3), (s, s), (1, 1), (1, 1), g, IN_SCALE, IN_ZP,
                                mod.weight_scale.numpy(), mod._bias_folded.numpy(), True, "none", 0.0, 0.0, 1.0, 0,
                                OUT_SCALE, OUT_ZP)
    # torch.ao: the same float conv, weights per-channel int8 as torch.ao's x86 default.
    x = (xq.float() - IN_ZP) * IN_SCALE
    x_cl = x.permute(0, 3, 1, 2)  # NCHW view of NHWC memory: channels_last
    ao_in = torch.quantize_per_tensor(x_cl, IN_SCALE, 0, torch.quint8)
    ao = torch.ao.nn.intrinsic.quantized.ConvReLU2d(c, c, 3, s, 1, groups=g)
    wq = torch.quantize_per_channel(conv.weight.detach(), mod.weight_scale.double(), torch.zeros(c, dtype=torch.long),
                                    0, torch.qint8)
    ao.set_weight_bias(wq, conv.bias.detach())
    ao.scale, ao.zero_point = OUT_SCALE, 0
    threads = torch.get_num_threads()
    with torch.inference_mode():
        a, b = mod._int8_call(xq_np), gemm_plan(xq_np, None, threads)
    np.testing.assert_array_equal(a, b)  # the two nnslim paths agree bit for bit
    return {"fp32": lambda: conv(x_cl),
            "torch.ao": lambda: ao(ao_in),
            "per-group GEMM": lambda: gemm_plan(xq_np, None, threads),
            "nnslim": lambda: mod._int8_call(xq_np)}  # what the lowered graph calls


def run_table(quick: bool = False) -> str:
    torch.set_num_threads(2)
    torch.backends.quantized.engine = "x86"
    rows = []
    for layer in LAYERS:
        with torch.inference_mode():
            t = interleaved_medians(contenders(*layer), rounds=5 if quick else 15)
        c, hw, g, s = layer
        rows.append([f"{c} x {hw}x{hw}, groups {g} ({c // g} per group){', stride 2' if s == 2 else ''}",
                     f"{t['fp32'] * 1e6:.0f}", f"{t['torch.ao'] * 1e6:.0f}", f"{t['per-group GEMM'] * 1e6:.0f}",
                     f"{t['nnslim'] * 1e6:.0f}", f"{t['torch.ao'] / t['nnslim']:.2f}x",
                     f"{t['per-group GEMM'] / t['nnslim']:.2f}x", f"{t['fp32'] / t['nnslim']:.2f}x"])
    return markdown_table(["3x3 grouped conv (batch 1)", "fp32 us", "torch.ao us", "per-group GEMM us",
                           "nnslim direct us", "vs torch.ao", "vs per-group GEMM", "vs fp32"], rows)


@pytest.mark.parametrize("layer", LAYERS[:1] + LAYERS[3:4])
def test_bench_int8_gconv(benchmark, layer):
    torch.set_num_threads(2)
    fns = contenders(*layer)
    with torch.inference_mode():
        benchmark(fns["nnslim"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"# grouped int8 conv, {platform.processor() or platform.machine()}, {nnslim.cpu_info()['selected']}, "
          f"2 threads, torch {torch.__version__}\n")
    print(run_table(args.quick))
