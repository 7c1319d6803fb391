"""SparseLinear / SparseConv2d (CSR kernels) vs dense fp32 nn.Linear / F.conv2d and torch.sparse.mm,
SparseInt8Linear (4x1 block-sparse int8) vs Int8Linear and fp32, and the BERT-base end to end
(pruned 80% in 4x1 blocks: sparsify(dtype="int8") vs dense int8_dynamic); 2 threads, interleaved
A/B rounds, medians and ratios (tables: nnslim/benchmarks_sparse.py).

    python bench/bench_sparse.py [--quick] [--threads N] [--bert]   # markdown tables (docs/sparse.md)
    pytest bench/bench_sparse.py --benchmark-only          # pytest-benchmark view
"""
from __future__ import annotations

import argparse

import pytest
import torch

import nnslim
from nnslim.benchmarks_sparse import (CONV_LAYERS, INT8_SHAPES, LINEAR_ROWS, LINEAR_SHAPES, bert_table, conv_contenders,
                                      int8_linear_contenders, linear_contenders, table)

THREADS = 2


@pytest.mark.parametrize("N,K", LINEAR_SHAPES)
@pytest.mark.parametrize("M", LINEAR_ROWS[:1])
@pytest.mark.parametrize("who", ["nnslim", "dense", "torch.sparse"])
def test_bench_sparse_linear(benchmark, who, M, K, N):
    torch.set_num_threads(THREADS)
    fns = linear_contenders(M, K, N, 0.9)
    with torch.inference_mode():
        benchmark(fns[who])


@pytest.mark.parametrize("N,K", INT8_SHAPES)
@pytest.mark.parametrize("M", LINEAR_ROWS[:1])
@pytest.mark.parametrize("who", ["sparse_int8", "int8", "fp32"])
def test_bench_sparse_int8_linear(benchmark, who, M, K, N):
    torch.set_num_threads(THREADS)
    fns = int8_linear_contenders(M, K, N, 0.9)
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
    ap.add_argument("--bert", action="store_true", help="also the BERT-base end to end (needs transformers)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"## Sparse kernels: {nnslim.cpu_info().get('cpu', '?')}, {nnslim.cpu_info()['selected']} path, "
          f"{torch.get_num_threads()} threads, "
          f"torch {torch.__version__}\n")
    print(table(args.quick))
    if args.bert:
        print("\n### End to end: BERT-base, 4x1 blocks + int8\n\n" + bert_table(args.quick))
