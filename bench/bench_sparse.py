"""SparseLinear / SparseConv2d (CSR kernels) vs dense fp32 nn.Linear / F.conv2d and torch.sparse.mm,
2 threads, interleaved A/B rounds, medians and ratios (tables: nnslim/benchmarks_sparse.py).

    python bench/bench_sparse.py [--quick] [--threads N]   # prints the markdown tables (docs/sparse.md)
    pytest bench/bench_sparse.py --benchmark-only          # pytest-benchmark view
"""
from __future__ import annotations

import argparse

import pytest
import torch

import nnslim
from nnslim.benchmarks_sparse import CONV_LAYERS, LINEAR_ROWS, LINEAR_SHAPES, conv_contenders, linear_contenders, table

THREADS = 2


@pytest.mark.parametrize("N,K", LINEAR_SHAPES)
@pytest.mark.parametrize("M", LINEAR_ROWS[:1])
@pytest.mark.parametrize("who", ["nnslim", "dense", "torch.sparse"])
def test_bench_sparse_linear(benchmark, who, M, K, N):
    torch.set_num_threads(THREADS)
    fns = linear_contenders(M, K, N, 0.9)
    with torch.inference_mode():
        benchmark(fns[who])


@pytest.mark.parametrize("C,HW", CONV_LAYERS)
@pytest.mark.parametrize("k", [3, 1])
@pytest.mark.parametrize("who", ["nnslim", "dense"])
def test_bench_sparse_conv(benchmark, who, k, C, HW):
    torch.set_num_threads(THREADS)
    fns = conv_contenders(C, HW, k, 0.9)
    with torch.inference_mode():
        benchmark(fns[who])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=THREADS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"## Sparse kernels: {nnslim.cpu_info()['selected']} path, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}\n")
    print(table(args.quick))
