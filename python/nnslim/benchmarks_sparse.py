"""SparseLinear / SparseConv2d (CSR kernels) vs dense fp32 torch and torch.sparse: the tables of
bench/bench_sparse.py and of `nnslim bench`. Every contender runs once per round, in turn, for
several rounds (interleaved A/B on a shared machine); tables show medians and dense / nnslim ratios
(> 1: nnslim is faster). Threads: whatever torch.get_num_threads() says (the bench script sets 2)."""
from __future__ import annotations

import warnings
from typing import Callable, Dict

import torch
import torch.nn as nn

from nnslim.benchmarks import interleaved_medians, markdown_table
from nnslim.nn import SparseConv2d, SparseLinear

LINEAR_SHAPES = [(768, 768), (3072, 768), (1024, 1024)]  # (out_features N, in_features K)
LINEAR_ROWS = [128, 512]
CONV_LAYERS = [(64, 56), (128, 28), (256, 14), (512, 7)]  # ResNet stages: channels, spatial size
SWEEP = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]


def pruned(module: nn.Module, sparsity: float, seed: int = 0) -> nn.Module:
    """Zeroes a random `sparsity` fraction of module.weight (unstructured, like magnitude pruning)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        module.weight.mul_((torch.rand(module.weight.shape, generator=g) >= sparsity).float())
    return module


def linear_contenders(M: int, K: int, N: int, sparsity: float,
                      torch_sparse: bool = True) -> Dict[str, Callable[[], object]]:
    torch.manual_seed(0)
    lin = pruned(nn.Linear(K, N), sparsity)
    sp = SparseLinear.from_dense(lin)
    x = torch.randn(M, K)
    fns = {"dense": lambda: lin(x), "nnslim": lambda: sp(x)}
    if torch_sparse:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
            w_csr = lin.weight.detach().to_sparse_csr()
        b = lin.bias.detach()
        fns["torch.sparse"] = lambda: torch.sparse.mm(w_csr, x.t()).t() + b
    return fns


def conv_contenders(C: int, HW: int, k: int, sparsity: float, batch: int = 1) -> Dict[str, Callable[[], object]]:
    torch.manual_seed(0)
    conv = pruned(nn.Conv2d(C, C, k, padding=k // 2), sparsity)
    sp = SparseConv2d.from_dense(conv)
    x = torch.randn(batch, C, HW, HW)
    return {"dense": lambda: conv(x), "nnslim": lambda: sp(x)}


def _us(t: float) -> str:
    return f"{t * 1e6:.0f}"


def linear_table(quick: bool = False) -> str:
    rows = []
    with torch.inference_mode():
        for N, K in LINEAR_SHAPES[:2] if quick else LINEAR_SHAPES:
            for M in LINEAR_ROWS:
                t = interleaved_medians(linear_contenders(M, K, N, 0.9), rounds=5 if quick else 11)
                gflops = 2 * M * N * K * 0.1 / t["nnslim"] / 1e9
                rows.append([f"{N}x{K}", M, _us(t["dense"]), _us(t["torch.sparse"]), _us(t["nnslim"]),
                             f"{gflops:.0f}", f"{t['dense'] / t['nnslim']:.2f}x",
                             f"{t['torch.sparse'] / t['nnslim']:.2f}x"])
    return markdown_table(["W (N x K)", "rows", "dense us", "torch.sparse us", "nnslim us",
                           "nnslim GFLOP/s (nonzeros)", "vs dense", "vs torch.sparse"], rows)


def conv_table(quick: bool = False) -> str:
    rows = []
    with torch.inference_mode():
        for k in (3, 1):
            for C, HW in CONV_LAYERS[:2] if quick else CONV_LAYERS:
                t = interleaved_medians(conv_contenders(C, HW, k, 0.9), rounds=5 if quick else 11)
                gflops = 2 * C * C * k * k * HW * HW * 0.1 / t["nnslim"] / 1e9
                rows.append([f"{k}x{k}", f"{C}ch {HW}x{HW}", _us(t["dense"]), _us(t["nnslim"]), f"{gflops:.0f}",
                             f"{t['dense'] / t['nnslim']:.2f}x"])
    return markdown_table(["kernel", "layer (batch 1)", "F.conv2d us", "nnslim us", "nnslim GFLOP/s (nonzeros)",
                           "vs dense"], rows)


def sweep_table(quick: bool = False) -> str:
    cases = [("Linear 768x768, 128 rows", lambda s: linear_contenders(128, 768, 768, s, torch_sparse=False)),
             ("Linear 1024x1024, 512 rows", lambda s: linear_contenders(512, 1024, 1024, s, torch_sparse=False)),
             ("Conv 3x3 64ch 56x56", lambda s: conv_contenders(64, 56, 3, s)),
             ("Conv 3x3 256ch 14x14", lambda s: conv_contenders(256, 14, 3, s)),
             ("Conv 1x1 256ch 14x14", lambda s: conv_contenders(256, 14, 1, s))]
    rows = []
    with torch.inference_mode():
        for name, make in cases[::2] if quick else cases:
            ratios = []
            for s in SWEEP:
                t = interleaved_medians(make(s), rounds=5 if quick else 9)
                ratios.append(f"{t['dense'] / t['nnslim']:.2f}x")
            rows.append([name, *ratios])
    return markdown_table(["dense / nnslim at sparsity", *[f"{s:.0%}" for s in SWEEP]], rows)


def table(quick: bool = False) -> str:
    return "\n\n".join([
        "### SparseLinear at 90% sparsity\n\n" + linear_table(quick),
        "### SparseConv2d at 90% sparsity (stride 1, padding k // 2)\n\n" + conv_table(quick),
        "### Sparsity sweep (break-even)\n\n" + sweep_table(quick),
    ])
