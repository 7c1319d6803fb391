"""``sparsify``: swap pruned ``nn.Linear`` / ``nn.Conv2d`` layers for the sparse drop-ins where that is
faster, and make the pruning final. ``dtype="int8"`` also weighs int8 forms for linear layers: dense
``Int8Linear``, block-sparse ``SparseInt8Linear`` (4x1 blocks) and fp32 ``SparseLinear``.

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
from nnslim.nn.int8_linear import Int8Linear
from nnslim.nn.sparse_conv2d import SparseConv2d
from nnslim.nn.sparse_int8_linear import SparseInt8Linear
from nnslim.nn.sparse_linear import SparseLinear

__all__ = ["sparsify", "plan_sparsify", "SparsifyDecision", "BREAK_EVEN_SPARSITY", "BREAK_EVEN_BLOCK_SPARSITY_INT8"]

# Sparsity from which the CSR kernels are predicted to beat dense fp32 (bench/bench_sparse.py sweep,
# 2 threads: linear 128-512 rows, ResNet layers at batch 1; see docs/sparse.md).
BREAK_EVEN_SPARSITY = {"linear": 0.6, "conv1x1": 0.7, "conv": 0.75}
# Fraction of empty 4x1 blocks from which SparseInt8Linear is predicted to beat dense Int8Linear
# (AMD Zen 3, 2 threads: from 30% at 128 rows, ~70% at 1-8 rows; wide layers at few rows need more,
# so decode-sized inputs should pass example_input).
BREAK_EVEN_BLOCK_SPARSITY_INT8 = 0.7

# The forms a layer can end up in ("dense": left as it is).
FORMS = ("dense", "sparse_f32", "dense_int8", "sparse_int8")

FilterFn = Callable[[nn.Module, str], bool]


@dataclass(frozen=True)
class SparsifyDecision:
    name: str
    kind: str                   # "linear" | "conv1x1" | "conv" | "grouped"
    sparsity: float             # fraction of exact zeros in the effective weight
    convert: bool
    reason: str
    dense_us: Optional[float] = None   # timings when decided by measurement: the layer as it is
    sparse_us: Optional[float] = None  # (dense int8 under dtype="int8") and the chosen form
    form: str = "dense"                # what the layer becomes, one of FORMS
    timings_us: Optional[Dict[str, float]] = None  # every form timed, by name


def _kind(module: nn.Module, dtype: str = "float32") -> Optional[str]:
    # Exact types: subclasses (e.g. MultiheadAttention's out_proj, QAT wrappers) are read by their
    # owners through .weight, which a drop-in would not have.
    if type(module) is nn.Linear:
        return "linear"
    if dtype == "int8" and type(module) is Int8Linear:
        return "int8_linear"
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


# Widest input SparseInt8Linear takes (its int32 sums stay exact); the dense Int8Linear chunks K.
_SPARSE_INT8_MAX_K = 131071


def _int8_candidates(module: nn.Module) -> Dict[str, Callable[[], nn.Module]]:
    """Builders of the int8-era forms of a linear layer (an fp32 sparse copy only from fp32 weights)."""
    if isinstance(module, Int8Linear):
        out = {"dense_int8": lambda: module, "sparse_int8": lambda: SparseInt8Linear.from_dense(module)}
    else:
        out = {"dense_int8": lambda: Int8Linear.from_float(_baked(module)),
               "sparse_int8": lambda: SparseInt8Linear.from_dense(module),
               "sparse_f32": lambda: SparseLinear.from_dense(module)}
    if module.in_features > _SPARSE_INT8_MAX_K:
        del out["sparse_int8"]
    return out


def _baked(linear: nn.Linear) -> nn.Linear:
    """A plain Linear with the effective weight (pruning masks applied)."""
    out = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
    with torch.no_grad():
        out.weight.copy_(effective_weight(linear))
        if linear.bias is not None:
            out.bias.copy_(linear.bias.detach().float().cpu())
    return out


def _block_sparsity(module: nn.Module) -> float:
    w = (module.weight_int8 if isinstance(module, Int8Linear) else effective_weight(module)) != 0
    rows = (w.shape[0] + 3) // 4 * 4
    padded = torch.zeros(rows, w.shape[1], dtype=torch.bool)
    padded[: w.shape[0]] = w
    return 1.0 - float(padded.reshape(rows // 4, 4, -1).any(1).float().mean())


def _plan_int8(name: str, module: nn.Module, kind: str, sparsity: float, min_sparsity: float,
               shape: Optional[torch.Size]) -> SparsifyDecision:
    builders = _int8_candidates(module)
    already = kind == "int8_linear"
    if sparsity < min_sparsity:
        return SparsifyDecision(name, kind, sparsity, not already,
                                f"sparsity below min_sparsity={min_sparsity}: dense int8", form="dense_int8")
    if shape is None:
        blocks = _block_sparsity(module)
        form = "sparse_int8" if blocks >= BREAK_EVEN_BLOCK_SPARSITY_INT8 and "sparse_int8" in builders else "dense_int8"
        reason = (f"{blocks:.0%} of 4x1 blocks empty " + (">=" if form == "sparse_int8" else "<") +
                  f" break-even {BREAK_EVEN_BLOCK_SPARSITY_INT8:.0%}; pass example_input to time it")
        return SparsifyDecision(name, kind, sparsity, form != "dense_int8" or not already, reason, form=form)
    x = torch.randn(shape)
    mods = {k: b() for k, b in builders.items()}
    with torch.inference_mode():
        t = _median_times({k: (lambda m=m: m(x)) for k, m in mods.items()})
    form = min(t, key=t.get)
    base = t["dense_int8"]
    reason = ("measured fastest" if form == "dense_int8" else
              f"measured {base / t[form]:.2f}x dense int8")
    return SparsifyDecision(name, kind, sparsity, form != "dense_int8" or not already, reason,
                            base * 1e6, t[form] * 1e6, form, {k: v * 1e6 for k, v in t.items()})


def plan_sparsify(model: nn.Module, min_sparsity: float = 0.5, filter_fn: Optional[FilterFn] = None,
                  example_input=None, dtype: str = "float32") -> List[SparsifyDecision]:
    """What ``sparsify`` would do with each Linear/Conv2d (groups=1) layer, and why."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not 0.0 <= float(min_sparsity) <= 1.0:
        raise ValueError(f"min_sparsity: expected a fraction in [0, 1], got {min_sparsity}")
    if dtype not in ("float32", "int8"):
        raise ValueError(f"dtype: expected 'float32' or 'int8', got {dtype!r}")
    candidates = []
    for name, module in model.named_modules():
        kind = _kind(module, dtype)
        if kind is None or (filter_fn is not None and not filter_fn(module, name)):
            continue
        candidates.append((name, module, kind))
    shapes = {}
    if example_input is not None and candidates:
        shapes = _capture_inputs(model, [n for n, _, k in candidates if k != "grouped"], example_input)

    plan = []
    for name, module, kind in candidates:
        w = module.weight_int8 if kind == "int8_linear" else effective_weight(module)
        sparsity = float((w == 0).sum()) / max(1, w.numel())
        if kind == "grouped":
            plan.append(SparsifyDecision(name, kind, sparsity, False, "grouped/depthwise convolutions stay dense"))
            continue
        device = (module.weight_int8 if kind == "int8_linear" else module.weight).device
        if device.type != "cpu":  # the break-even and the timings are the CPU kernels'
            plan.append(SparsifyDecision(name, kind, sparsity, False, "not on the CPU"))
            continue
        if dtype == "int8" and kind in ("linear", "int8_linear"):
            plan.append(_plan_int8(name, module, kind, sparsity, min_sparsity, shapes.get(name)))
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
                                         t["dense"] * 1e6, t["sparse"] * 1e6, "sparse_f32" if faster else "dense",
                                         {"dense": t["dense"] * 1e6, "sparse_f32": t["sparse"] * 1e6}))
            continue
        threshold = BREAK_EVEN_SPARSITY[kind]
        convert = sparsity >= threshold
        reason = (f"sparsity >= break-even {threshold:.0%} for {kind}" if convert else
                  f"sparsity below break-even {threshold:.0%} for {kind}; pass example_input to time it")
        plan.append(SparsifyDecision(name, kind, sparsity, convert, reason, form="sparse_f32" if convert else "dense"))
    return plan



def _swap_pools(model: nn.Module) -> None:
    from nnslim.nn.max_pool2d import MaxPool2d

    for name, module in list(model.named_modules()):
        if name and type(module) is nn.MaxPool2d and not module.return_indices:
            new = MaxPool2d.from_float(module)
            new.train(module.training)
            set_submodule(model, name, new)


def _folded_copy(model: nn.Module) -> nn.Module:
    import copy

    from nnslim.graph import GraphCaptureError, capture, fold_batchnorm
    from nnslim.graph.layout import keep_layout
    from nnslim.pruning.masks import is_pruned, remove_masks

    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if model.training:
        raise ValueError("fold_batchnorm=True folds inference statistics: call model.eval() first")
    work = copy.deepcopy(model)
    if any(is_pruned(m) for m in work.modules()):
        remove_masks(work)  # fold the effective weights; a mask would re-apply to the scaled weight
    try:
        gm = capture(work)
    except GraphCaptureError as exc:
        raise ValueError(f"fold_batchnorm=True needs a model torch.fx can trace: {exc}") from exc
    fold_batchnorm(gm)
    keep_layout(gm, work)
    return gm


def sparsify(model: nn.Module, min_sparsity: float = 0.5, filter_fn: Optional[FilterFn] = None,
             example_input=None, remove_masks: bool = True, dtype: str = "float32",
             decisions: Optional[List[SparsifyDecision]] = None, fold_batchnorm: bool = False,
             fast_pooling: Optional[bool] = None) -> nn.Module:
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

    - ``dtype="int8"``: every considered ``nn.Linear`` / ``Int8Linear`` ends up in the fastest of dense
      int8 (``Int8Linear``, dynamic activations unless it already was static), block-sparse int8
      (``SparseInt8Linear``, 4x1 blocks) and fp32 CSR (``SparseLinear``, from fp32 weights only),
      timed on ``example_input`` or, without it, by the 4x1 block sparsity
      (``BREAK_EVEN_BLOCK_SPARSITY_INT8``); layers below ``min_sparsity`` become dense int8.
      Convolutions keep the fp32 rule (no sparse int8 convolution kernel yet).
    - ``decisions``: a list that receives the per-layer ``SparsifyDecision`` records (the report).
    - ``fold_batchnorm=True`` (inference only: ``model`` must be in eval mode): first folds every
      BatchNorm into the conv / linear that feeds it, wherever it sits (the graph layer's
      ``fold_batchnorm`` pass on a copy; a folded filter keeps its zeros), so the sparse kernels
      absorb the BatchNorm. Returns a new GraphModule with ``model``'s module tree (folded
      BatchNorms become Identity); ``model`` itself is left unchanged. ``nnslim.save`` /
      ``nnslim.load(path, fresh_model)`` rebuild it.
    - ``fast_pooling`` (default: the value of ``fold_batchnorm``): every ``nn.MaxPool2d`` becomes
      ``nnslim.nn.MaxPool2d``, the same pooling on nnslim's NCHW kernel (torch's NCHW max pool is
      the slowest layer of a sparse ResNet-18: 4.9 ms of 28 here, nnslim's 0.33 ms; equal results).

    ``plan_sparsify`` returns the per-layer decisions without changing anything. When ``model`` is
    itself a Linear/Conv2d that gets converted, the returned module is its replacement.
    """
    from nnslim.pruning.masks import is_pruned, remove_mask

    if fold_batchnorm:
        model = _folded_copy(model)
    if fold_batchnorm if fast_pooling is None else fast_pooling:
        _swap_pools(model)
    plan = plan_sparsify(model, min_sparsity, filter_fn, example_input, dtype)
    if decisions is not None:
        decisions.extend(plan)
    modules = dict(model.named_modules())
    root = model
    for d in plan:
        if not d.convert:
            continue
        module = modules[d.name]
        if d.form in ("dense_int8", "sparse_int8") or d.kind == "int8_linear":
            new = _int8_candidates(module)[d.form]()
        else:
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
