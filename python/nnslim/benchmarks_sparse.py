"""SparseLinear / SparseConv2d (CSR kernels) vs dense fp32 torch and torch.sparse, and
SparseInt8Linear (4x1 block-sparse int8) vs the dense Int8Linear and fp32: the tables of
bench/bench_sparse.py and of `nnslim bench`. Every contender runs once per round, in turn, for
several rounds (interleaved A/B on a shared machine); tables show medians and dense / nnslim ratios
(> 1: nnslim is faster). Threads: whatever torch.get_num_threads() says (the bench script sets 2)."""
from __future__ import annotations

import warnings
from typing import Callable, Dict

import torch
import torch.nn as nn

from nnslim.benchmarks import interleaved_medians, markdown_table
from nnslim.nn import Int8Linear, SparseConv2d, SparseInt8Linear, SparseLinear

LINEAR_SHAPES = [(768, 768), (3072, 768), (1024, 1024)]  # (out_features N, in_features K)
LINEAR_ROWS = [128, 512]
CONV_LAYERS = [(64, 56), (128, 28), (256, 14), (512, 7)]  # ResNet stages: channels, spatial size
SWEEP = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
INT8_SHAPES = [(768, 768), (3072, 768), (768, 3072)]  # the BERT-base shapes (N, K)


def pruned(module: nn.Module, sparsity: float, seed: int = 0) -> nn.Module:
    """Zeroes a random `sparsity` fraction of module.weight (unstructured, like magnitude pruning)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        module.weight.mul_((torch.rand(module.weight.shape, generator=g) >= sparsity).float())
    return module


def block_pruned(module: nn.Module, sparsity: float, seed: int = 0, rows: int = 4) -> nn.Module:
    """Zeroes a random `sparsity` fraction of the weight's blocks of `rows` output rows x 1 input."""
    g = torch.Generator().manual_seed(seed)
    N, K = module.weight.shape
    keep = (torch.rand((N + rows - 1) // rows, K, generator=g) >= sparsity).float()
    with torch.no_grad():
        module.weight.mul_(keep.repeat_interleave(rows, 0)[:N])
    return module


def int8_linear_contenders(M: int, K: int, N: int, sparsity: float) -> Dict[str, Callable[[], object]]:
    """fp32 nn.Linear, nnslim's dense Int8Linear and SparseInt8Linear on the same 4x1-pruned weight."""
    torch.manual_seed(0)
    lin = block_pruned(nn.Linear(K, N), sparsity)
    dense, sparse = Int8Linear.from_float(lin), SparseInt8Linear.from_dense(lin)
    x = torch.randn(M, K)
    return {"fp32": lambda: lin(x), "int8": lambda: dense(x), "sparse_int8": lambda: sparse(x)}


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


def sparse_int8_table(quick: bool = False) -> str:
    rows = []
    with torch.inference_mode():
        for N, K in INT8_SHAPES[:2] if quick else INT8_SHAPES:
            for M in LINEAR_ROWS[:1] if quick else LINEAR_ROWS:
                for sp in (0.9, 0.7):
                    t = interleaved_medians(int8_linear_contenders(M, K, N, sp), rounds=5 if quick else 11)
                    rows.append([f"{N}x{K}", M, f"{sp:.0%}", _us(t["fp32"]), _us(t["int8"]), _us(t["sparse_int8"]),
                                 f"{t['int8'] / t['sparse_int8']:.2f}x", f"{t['fp32'] / t['sparse_int8']:.1f}x"])
    return markdown_table(["W (N x K)", "rows", "4x1 blocks pruned", "fp32 nn.Linear us", "Int8Linear us",
                           "SparseInt8Linear us", "vs Int8Linear", "vs fp32"], rows)


def bert_table(quick: bool = False, sparsity: float = 0.8, seq: int = 128) -> str:
    """HF BertModel(BertConfig()) (12 layers, batch 1): encoder Linear layers pruned `sparsity` in 4x1
    blocks, then (a) dense int8_dynamic, (b) sparsify(dtype="int8") on the same pruned weights."""
    import copy

    import nnslim
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(num_hidden_layers=2) if quick else BertConfig()
    model = BertModel(cfg).eval()
    nnslim.prune(model, nnslim.PruneConfig(sparsity=sparsity, pattern="4x1", scope="layer"),
                 filter_fn=lambda m, name: name.startswith("encoder.") and isinstance(m, nn.Linear))
    nnslim.pruning.remove_masks(model)
    ids = torch.randint(0, cfg.vocab_size, (1, seq))
    int8 = nnslim.quantize(copy.deepcopy(model), "int8_dynamic")
    decisions = []
    sparse = nnslim.sparsify(copy.deepcopy(model), dtype="int8", example_input=ids, decisions=decisions)
    forms = {}
    for d in decisions:
        forms[d.form] = forms.get(d.form, 0) + 1

    def run(m):
        return lambda: m(input_ids=ids).last_hidden_state

    with torch.inference_mode():
        ref, a, b = run(model)(), run(int8)(), run(sparse)()
        t = interleaved_medians({"fp32": run(model), "int8": run(int8), "sparse": run(sparse)},
                                rounds=5 if quick else 11)
    cos = lambda u: float(torch.nn.functional.cosine_similarity(u.flatten(), ref.flatten(), 0))  # noqa: E731
    rows = [["pruned fp32", f"{t['fp32'] * 1e3:.1f}", "1.00x", "-", "1"],
            ["pruned + int8_dynamic (dense)", f"{t['int8'] * 1e3:.1f}", f"{t['fp32'] / t['int8']:.2f}x", "1.00x",
             f"{cos(a):.5f}"],
            ["pruned + sparsify(dtype=int8)", f"{t['sparse'] * 1e3:.1f}", f"{t['fp32'] / t['sparse']:.2f}x",
             f"{t['int8'] / t['sparse']:.2f}x", f"{cos(b):.5f}"]]
    title = (f"BertModel {cfg.num_hidden_layers} layers, seq {seq}, batch 1, encoder Linear {sparsity:.0%} in 4x1 blocks; "
             f"sparsify chose: " + ", ".join(f"{n} {k}" for k, n in sorted(forms.items())))
    return title + "\n\n" + markdown_table(["model", "ms", "vs fp32", "vs dense int8", "cosine vs pruned fp32"], rows)


def table(quick: bool = False) -> str:
    return "\n\n".join([
        "### SparseInt8Linear (4x1 blocks) vs Int8Linear and fp32\n\n" + sparse_int8_table(quick),
        "### SparseLinear at 90% sparsity\n\n" + linear_table(quick),
        "### SparseConv2d at 90% sparsity (stride 1, padding k // 2)\n\n" + conv_table(quick),
        "### Sparsity sweep (break-even)\n\n" + sweep_table(quick),
    ])
