"""``sparsify``: swap pruned ``nn.Linear`` / ``nn.Conv2d`` layers for the CSR drop-ins where that is
faster, and make the pruning final.

Whether sparse wins depends on the layer's sparsity and shape, so each layer is decided on its own:
with ``example_input`` both versions of the layer are timed on the input it actually receives
(interleaved rounds, medians); without it, a break-even rule measured with ``bench/bench_sparse.py``
decides (see docs/sparse.md): with 2 threads the CSR kernels beat dense fp32 from about 55% sparsity
for linear layers and 60-75% for convolutions (lower on one thread); the rule keeps a margin above.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from nnslim._utils import set_submodule

from nnslim.nn._sparse_common import effective_weight
from nnslim.nn.sparse_conv2d import SparseConv2d
from nnslim.nn.sparse_linear import SparseLinear

__all__ = ["sparsify", "plan_sparsify", "SparsifyDecision", "BREAK_EVEN_SPARSITY"]

# Sparsity from which the CSR kernels are predicted to beat dense fp32 (bench/bench_sparse.py sweep,
# 2 threads: linear 128-512 rows, ResNet layers at batch 1; see docs/sparse.md).
BREAK_EVEN_SPARSITY = {"linear": 0.6, "conv1x1": 0.7, "conv": 0.75}

FilterFn = Callable[[nn.Module, str], bool]


@dataclass(frozen=True)
class SparsifyDecision:
    name: str
    kind: str                   # "linear" | "conv1x1" | "conv" | "grouped"
    sparsity: float             # fraction of exact zeros in the effective weight
    convert: bool
    reason: str
    dense_us: Optional[float] = None   # timings when decided by measurement
    sparse_us: Optional[float] = None


def _kind(module: nn.Module) -> Optional[str]:
    # Exact types: subclasses (e.g. MultiheadAttention's out_proj, QAT wrappers) are read by their
    # owners through .weight, which a drop-in would not have.
    if type(module) is nn.Linear:
        return "linear"
    if type(module) is nn.Conv2d:
        if module.groups != 1:
            return "grouped"
        return "conv1x1" if tuple(module.kernel_size) == (1, 1) else "conv"
    return None


def _capture_inputs(model: nn.Module, names: List[str], example_input) -> Dict[str, torch.Size]:
    shapes: Dict[str, torch.Size] = {}
    modules = dict(model.named_modules())
    handles = []
    for name in names:
        def hook(mod, args, name=name):
            if name not in shapes and args and isinstance(args[0], torch.Tensor):
                shapes[name] = args[0].shape
        handles.append(modules[name].register_forward_pre_hook(hook))
    # eval(): a shape probe must not move BatchNorm statistics or draw dropout masks.
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            if isinstance(example_input, (tuple, list)):
                model(*example_input)
            elif isinstance(example_input, dict):
                model(**example_input)
            else:
                model(example_input)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return shapes


def _median_times(fns: Dict[str, Callable[[], object]], budget_s: float = 0.2) -> Dict[str, float]:
    """Interleaved rounds (one call of each per round) so both see the same machine load."""
    for f in fns.values():
        f()
    t0 = time.perf_counter()
    for f in fns.values():
        f()
    per_round = max(time.perf_counter() - t0, 1e-6)
    rounds = max(3, min(15, int(budget_s / per_round)))
    samples = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            samples[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in samples.items()}


def _time_layer(module: nn.Module, sparse: nn.Module, shape: torch.Size) -> Dict[str, float]:
    x = torch.randn(shape)
    w = effective_weight(module)
    b = None if module.bias is None else module.bias.detach().float().cpu()
    if isinstance(module, nn.Linear):
        dense = lambda: F.linear(x, w, b)  # noqa: E731
    else:
        dense = lambda: module._conv_forward(x, w, b)  # noqa: E731  (handles padding modes)
    with torch.inference_mode():
        return _median_times({"dense": dense, "sparse": lambda: sparse(x)})


def plan_sparsify(model: nn.Module, min_sparsity: float = 0.5, filter_fn: Optional[FilterFn] = None,
                  example_input=None) -> List[SparsifyDecision]:
    """What ``sparsify`` would do with each Linear/Conv2d (groups=1) layer, and why."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not 0.0 <= float(min_sparsity) <= 1.0:
        raise ValueError(f"min_sparsity: expected a fraction in [0, 1], got {min_sparsity}")
    candidates = []
    for name, module in model.named_modules():
        kind = _kind(module)
        if kind is None or (filter_fn is not None and not filter_fn(module, name)):
            continue
        candidates.append((name, module, kind))
    shapes = {}
    if example_input is not None and candidates:
        shapes = _capture_inputs(model, [n for n, _, k in candidates if k != "grouped"], example_input)

    plan = []
    for name, module, kind in candidates:
        w = effective_weight(module)
        sparsity = float((w == 0).sum()) / max(1, w.numel())
        if kind == "grouped":
            plan.append(SparsifyDecision(name, kind, sparsity, False, "grouped/depthwise convolutions stay dense"))
            continue
        if module.weight.device.type != "cpu":  # the break-even and the timings are the CPU kernels'
            plan.append(SparsifyDecision(name, kind, sparsity, False, "not on the CPU"))
            continue
        if sparsity < min_sparsity:
            plan.append(SparsifyDecision(name, kind, sparsity, False, f"sparsity below min_sparsity={min_sparsity}"))
            continue
        if name in shapes:
            sparse = (SparseLinear if kind == "linear" else SparseConv2d).from_dense(module)
            t = _time_layer(module, sparse, shapes[name])
            faster = t["sparse"] < t["dense"]
            plan.append(SparsifyDecision(name, kind, sparsity, faster,
                                         "measured faster" if faster else "measured slower than dense",
                                         t["dense"] * 1e6, t["sparse"] * 1e6))
            continue
        threshold = BREAK_EVEN_SPARSITY[kind]
        convert = sparsity >= threshold
        reason = (f"sparsity >= break-even {threshold:.0%} for {kind}" if convert else
                  f"sparsity below break-even {threshold:.0%} for {kind}; pass example_input to time it")
        plan.append(SparsifyDecision(name, kind, sparsity, convert, reason))
    return plan



def sparsify(model: nn.Module, min_sparsity: float = 0.5, filter_fn: Optional[FilterFn] = None,
             example_input=None, remove_masks: bool = True) -> nn.Module:
    """Replace each pruned / sparse ``nn.Linear`` and ``nn.Conv2d`` (groups=1) of ``model`` by
    ``SparseLinear`` / ``SparseConv2d`` where that is faster for that layer; returns ``model``
    (changed in place).

    - ``min_sparsity``: layers with a smaller fraction of zero weights stay dense.
    - ``filter_fn(module, fqn) -> bool``: restricts which layers are considered.
    - ``example_input``: a batch (tensor, tuple of args or dict of kwargs) the model is run on once to
      learn each layer's input shape; each layer is then timed dense vs sparse and converted only if
      sparse is faster. Without it a measured break-even sparsity decides (``BREAK_EVEN_SPARSITY``).
    - ``remove_masks``: the weights used are the effective ones (pruning masks applied, plus any exact
      zeros); converted layers drop their masks with them, and every other pruned module that
      ``filter_fn`` accepts gets its mask baked into a plain weight, so the result is ready for inference.

    ``plan_sparsify`` returns the per-layer decisions without changing anything. When ``model`` is
    itself a Linear/Conv2d that gets converted, the returned module is its replacement.
    """
    from nnslim.pruning.masks import is_pruned, remove_mask

    plan = plan_sparsify(model, min_sparsity, filter_fn, example_input)
    modules = dict(model.named_modules())
    root = model
    for d in plan:
        if not d.convert:
            continue
        module = modules[d.name]
        new = (SparseLinear if d.kind == "linear" else SparseConv2d).from_dense(module)
        new.train(module.training)
        if d.name:
            set_submodule(model, d.name, new)
        else:
            root = new
    if remove_masks:
        for name, module in root.named_modules():
            if is_pruned(module) and (filter_fn is None or filter_fn(module, name)):
                remove_mask(module)
    return root
