"""Int8Conv2d vs fp32 nn.Conv2d and torch.ao static quantized conv (x86 engine), ResNet-style 3x3.

    python bench/bench_int8_conv2d.py [--quick]
    pytest bench/bench_int8_conv2d.py --benchmark-only
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).parent))
from nnslim.benchmarks import interleaved_medians, markdown_table  # noqa: E402

import nnslim  # noqa: E402
from nnslim.nn import Int8Conv2d  # noqa: E402

LAYERS = [(64, 56), (128, 28), (256, 14)]  # channels, spatial size; 3x3, stride 1, pad 1
BATCHES = [1, 8]


def _ao_static(conv: nn.Conv2d, x: torch.Tensor, engine: str = "x86"):
    """torch.ao eager static int8 of a copy of ``conv`` (prepare() hooks an observer onto the module it
    is given, which would otherwise slow the fp32 baseline down several-fold)."""
    import copy

    import torch.ao.quantization as tq

    conv = copy.deepcopy(conv)
    torch.backends.quantized.engine = engine
    m = nn.Sequential(tq.QuantStub(), conv, tq.DeQuantStub()).eval()
    m.qconfig = tq.get_default_qconfig(engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq.prepare(m, inplace=True)
        m(x)
        tq.convert(m, inplace=True)
    return m


def contenders(c: int, hw: int, n: int):
    torch.manual_seed(0)
    conv = nn.Conv2d(c, c, 3, padding=1).eval()
    x = torch.randn(n, c, hw, hw).relu()
    scale = x.max().item() / 255
    q = Int8Conv2d.from_float(conv, input_qparams=(scale, -128))
    ao = _ao_static(conv, x)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    return {"fp32": lambda: conv(x), "nnslim": lambda: q(x_cl), "ao_x86": lambda: ao(x)}


def timing_cells(t, digits: int = 2) -> list:
    """fp32 / torch.ao / nnslim ms and nnslim's ratios to both, from interleaved_medians' seconds."""
    ms = lambda k: f"{t[k] * 1e3:.{digits}f}"  # noqa: E731
    return [ms("fp32"), ms("ao_x86"), ms("nnslim"), f"{t['fp32'] / t['nnslim']:.2f}x",
            f"{t['ao_x86'] / t['nnslim']:.2f}x"]


def run_table(quick: bool = False) -> str:
    torch.set_num_threads(2)
    rows = []
    with torch.inference_mode():
        for c, hw in (LAYERS[:1] if quick else LAYERS):
            for n in ([1] if quick else BATCHES):
                t = interleaved_medians(contenders(c, hw, n), rounds=5 if quick else 9)
                rows.append([f"{c}ch {hw}x{hw}", n] + timing_cells(t))
    return markdown_table(["layer (3x3)", "batch", "fp32 ms", "torch.ao x86 ms", "nnslim ms", "vs fp32",
                           "vs torch.ao"], rows)


@pytest.mark.parametrize("who", ["nnslim", "fp32", "ao_x86"])
def test_bench_int8_conv2d(benchmark, who):
    fns = contenders(64, 56, 1)
    with torch.inference_mode():
        benchmark(fns[who])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"# Int8Conv2d (static), {nnslim.cpu_info()['selected']}, {torch.get_num_threads()} threads\n")
    print(run_table(args.quick))
