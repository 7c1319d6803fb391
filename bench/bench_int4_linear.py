"""Int4Linear (and Log2Linear) vs Int8Linear vs fp32 nn.Linear on decode-like shapes, interleaved.

    python bench/bench_int4_linear.py [--quick] [--rounds N] [--threads 2]   # prints a markdown table
    pytest bench/bench_int4_linear.py --benchmark-only          # pytest-benchmark view
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).parent))
from _timing import interleaved_medians, markdown_table  # noqa: E402

import nnslim  # noqa: E402
from nnslim.nn import Int4Linear, Int8Linear, Log2Linear  # noqa: E402

SHAPES = [(4096, 4096), (768, 3072)]  # (in_features, out_features)
ROWS = [1, 4, 8, 32]


def contenders(M: int, K: int, N: int):
    torch.manual_seed(0)
    lin = nn.Linear(K, N)
    x = torch.randn(M, K)
    q8, q4, l2 = Int8Linear.from_float(lin), Int4Linear.from_float(lin), Log2Linear.from_float(lin)
    return {"fp32": lambda: lin(x), "int8": lambda: q8(x), "int4": lambda: q4(x), "log2": lambda: l2(x)}


def run_table(quick: bool = False, rounds: int = 0, threads: int = 2) -> str:
    torch.set_num_threads(threads)
    rows = []
    with torch.inference_mode():
        for K, N in SHAPES:
            for M in ([1, 8] if quick else ROWS):
                t = interleaved_medians(contenders(M, K, N), rounds=rounds or (5 if quick else 11))
                rows.append([M, f"{K}x{N}"] + [f"{t[k] * 1e6:.0f}" for k in ("fp32", "int8", "int4", "log2")] +
                            [f"{t['int8'] / t['int4']:.2f}x", f"{t['fp32'] / t['int4']:.2f}x",
                             f"{t['int8'] / t['log2']:.2f}x"])
    head = ["M", "in x out", "fp32 us", "Int8Linear us", "Int4Linear us", "Log2Linear us", "int4 vs int8",
            "int4 vs fp32", "log2 vs int8"]
    return markdown_table(head, rows)


@pytest.mark.parametrize("K,N", SHAPES)
@pytest.mark.parametrize("M", [1, 8])
@pytest.mark.parametrize("who", ["int4", "int8", "fp32"])
def test_bench_int4_linear(benchmark, who, M, K, N):
    torch.set_num_threads(2)
    fns = contenders(M, K, N)
    with torch.inference_mode():
        benchmark(fns[who])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(f"# Int4Linear, {nnslim.cpu_info()['selected']}, {args.threads} threads (medians of interleaved rounds)\n")
    print(run_table(args.quick, args.rounds, args.threads))
