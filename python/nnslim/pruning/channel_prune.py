"""``pattern="channel"``: score the coupled channels, choose how many go (a channel fraction, a MAC or
parameter budget, or a measured speedup), and shrink the model in place."""
from __future__ import annotations

import copy
import dataclasses
import fnmatch
import warnings
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from nnslim.pruning.channel import (PRODUCER_KINDS, ChannelPlan, _example_args, class_scores, plan_channels,
                                    removal_order, shrink)
from nnslim.pruning.config import PruneConfig
from nnslim.pruning.importance import weight_scores

__all__ = ["prune_channels", "count_macs", "count_params", "measure_latency"]

Layers = List[Tuple[str, nn.Module]]


def _protected(config: PruneConfig, candidates: Layers) -> List[str]:
    names = []
    for pattern in config.protect:
        if pattern == "@first_conv":
            names.extend([n for n, m in candidates if isinstance(m, nn.Conv2d)][:1])
        elif pattern == "@last":
            names.extend(n for n, _ in candidates[-1:])
        elif pattern == "@first":
            names.extend(n for n, _ in candidates[:1])
        else:
            names.extend(n for n, _ in candidates if n == pattern or fnmatch.fnmatchcase(n, pattern))
    return names


def _group_targets(plan: ChannelPlan, targets: Dict[str, Optional[float]]) -> Dict[FrozenSet[str], Optional[float]]:
    """A group takes the per_layer target of its first producer that has one."""
    out = {}
    for key in plan.groups:
        hits = [targets[n] for n in sorted(key) if targets.get(n) is not None]
        out[key] = hits[0] if hits else None
    return out


def _scores(model, plan: ChannelPlan, config: PruneConfig, data) -> Dict[int, float]:
    if config.method == "random":
        g = torch.Generator().manual_seed(config.seed)
        r = torch.rand(len(plan.roots), generator=g)
        return {u: float(r[u]) for u in plan.prunable}
    weighted = sorted({m.module for m in plan.members if m.kind in PRODUCER_KINDS + ("in",)})
    layers = [(n, plan.modules[n]) for n in weighted if isinstance(getattr(plan.modules[n], "weight", None), torch.Tensor)]
    method = "magnitude" if config.method == "bn_scale" else config.method
    ws = weight_scores(model, layers, method, data, config.loss_fn, config.num_batches, config.seed)
    return class_scores(plan, ws, config.channel_norm, config.method)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, example_input) -> int:
    """Multiply-accumulates of one forward pass over Conv / Linear layers (the part pruning changes)."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total[0] += out.numel() * m.in_features

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = model.training
    model.eval()
    try:
        args, kwargs = _example_args(example_input)
        model(*args, **kwargs)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return total[0]


@torch.no_grad()
def measure_latency(models: Sequence[nn.Module], example_input, rounds: int = 5) -> List[float]:
    """Median seconds per call of each model, timed interleaved (A B A B ...) so machine noise hits all."""
    from nnslim.benchmarks import interleaved_medians

    args, kwargs = _example_args(example_input)
    for m in models:
        m.eval()
    t = interleaved_medians({i: (lambda m=m: m(*args, **kwargs)) for i, m in enumerate(models)}, rounds=rounds)
    return [t[i] for i in range(len(models))]


def _shrunk_copy(model: nn.Module, plan: ChannelPlan, removed: List[int]) -> nn.Module:
    clone = copy.deepcopy(model)
    shrink(dataclasses.replace(plan, modules=dict(clone.named_modules())), removed)
    return clone


def _budget_prefix(model, plan, order: List[int], measure: Callable[[nn.Module], float], goal: float) -> int:
    """The shortest prefix of ``order`` whose removal brings ``measure`` down to ``goal`` (bisection:
    MACs and parameters only fall as channels go)."""
    lo, hi = 0, len(order)
    if measure(_shrunk_copy(model, plan, order)) > goal:
        return hi
    while lo < hi:
        mid = (lo + hi) // 2
        if measure(_shrunk_copy(model, plan, order[:mid])) <= goal:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _deployed(model: nn.Module, example_input, speed_of: str) -> nn.Module:
    if speed_of == "fp32":
        return model
    import nnslim

    args, _ = _example_args(example_input)
    if len(args) != 1:
        raise ValueError("speed_of: 'int8_static' times a model called with one tensor; example_input is not one")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nnslim.quantize(model, nnslim.Int8StaticConfig(progress=False), calibration_data=[args[0]])


def _speed_prefix(model, plan, order: List[int], example_input, target: float,
                  speed_of: str = "fp32") -> Tuple[int, float]:
    """The shortest prefix of ``order`` (to 5% of it) whose removal makes the model ``target`` times faster,
    timed on this machine against the original in the same interleaved run. Bisection: speed grows with
    the channels removed, though timing noise makes it only nearly monotone, so the answer is re-checked."""
    reference = _deployed(model, example_input, speed_of)

    def speedup(k: int, rounds: int = 5) -> float:
        candidate = _deployed(_shrunk_copy(model, plan, order[:k]), example_input, speed_of)
        base, now = measure_latency([reference, candidate], example_input, rounds)
        return base / now

    n = len(order)
    full = speedup(n)
    if full < target:
        warnings.warn(f"target_speedup={target}: the sparsity cap gives only {full:.2f}x (measured); raise "
                      "sparsity to allow more pruning", UserWarning, stacklevel=4)
        return n, full
    lo, hi = 0, n
    step = max(1, n // 20)
    while hi - lo > step:
        mid = (lo + hi) // 2
        if speedup(mid) >= target:
            hi = mid
        else:
            lo = mid
    # A lucky sample can pass a cut that is not fast enough: confirm with a longer run, stepping on if not.
    best = speedup(hi, rounds=9)
    while best < target and hi < n:
        hi = min(n, hi + step)
        best = speedup(hi, rounds=9)
    return hi, best


def _output_shapes(model: nn.Module, example_input):
    from nnslim.graph.record import _flat_tensors

    args, kwargs = _example_args(example_input)
    with torch.no_grad():
        out = model(*args, **kwargs)
    flat: List[torch.Tensor] = []
    _flat_tensors(out, flat)
    return [tuple(t.shape) for t in flat]


def _check_on_a_copy(model, plan: ChannelPlan, removed: List[int], example_input) -> List[int]:
    """Run the shrunk model on a copy before touching the user's: a group whose shrink breaks the forward
    (a channel count written as a constant in the code, which a recorded graph cannot tell from a computed
    one) stays, with a warning naming it."""
    want = _output_shapes(model, example_input)

    def works(units) -> bool:
        try:
            return _output_shapes(_shrunk_copy(model, plan, units), example_input) == want
        except Exception:  # noqa: BLE001 - any failure of the shrunk forward means "not this group"
            return False

    if not removed or works(removed):
        return removed
    keys = sorted({plan.group_of[r] for r in removed}, key=lambda k: sorted(k))
    bad = [k for k in keys if not works([r for r in removed if plan.group_of[r] == k])]
    kept = [r for r in removed if plan.group_of[r] not in bad]
    names = "; ".join(", ".join(sorted(k)[:3]) + (" ..." if len(k) > 3 else "") for k in bad[:6])
    warnings.warn(f"pattern='channel': the channels of {len(bad)} group(s) stay because the model fails after "
                  f"shrinking them (a size fixed in its code?): {names}", UserWarning, stacklevel=4)
    if kept and not works(kept):
        from nnslim.pruning.channel import PruningGraphError

        raise PruningGraphError("pattern='channel': the shrunk model does not run on example_input even without "
                                "the failing groups; nothing was changed")
    return kept


def prune_channels(model: nn.Module, config: PruneConfig, layers: Layers, candidates: Layers,
                   targets: Dict[str, Optional[float]], sparsity: float, data: Optional[Iterable],
                   example_input: Any, leaf_modules: Sequence[type]) -> Dict[str, Tuple[int, int]]:
    needs_input = config.target == "macs" or config.target_speedup is not None
    if needs_input and example_input is None:
        what = "target='macs'" if config.target == "macs" else "target_speedup"
        raise ValueError(f"example_input: {what} runs the model, so prune() needs example_input=...")
    protected = set(_protected(config, candidates))
    active = {n for n, _ in layers if n not in protected}
    if config.hidden_size:
        skipped = set(n for n, _ in candidates) - {n for n, _ in layers}
        active |= {n for n, m in model.named_modules() if isinstance(m, nn.Embedding) and n not in skipped}
    plan = plan_channels(model, active, example_input, leaf_modules, config.hidden_size)
    if not plan.prunable:
        notes = plan.notes
        if any(n.startswith("untraceable") for n in notes):
            from nnslim.pruning.channel import PruningGraphError

            raise PruningGraphError(
                f"pattern='channel': no channel of {type(model).__name__} can be followed through the graph "
                f"({'; '.join(notes[:3])}). Pass leaf_modules=[...] (module types to keep as single nodes), "
                f"prune a traceable sub-module, or use pattern='unstructured' / 'N:M'")
        warnings.warn("pattern='channel': no channel can be removed: every coupled group reaches the model "
                      "output, a protected layer (protect=...), a LayerNorm (hidden_size=False) or an op the "
                      "analysis cannot follow", UserWarning, stacklevel=3)
        return {}
    scores = _scores(model, plan, config, data)
    gtargets = _group_targets(plan, targets)
    if config.target == "channels" and config.target_speedup is None:
        removed = removal_order(plan, scores, gtargets, sparsity, config.scope, config.round_to)
    else:
        # One global order, cut where the budget is met; `sparsity` of channels is the cap.
        order = removal_order(plan, scores, {k: None for k in gtargets}, 1.0 if config.target != "channels"
                              else sparsity, "global", 1)
        if config.target_speedup is not None:
            k, _ = _speed_prefix(model, plan, order, example_input, float(config.target_speedup), config.speed_of)
        else:
            if config.target == "macs":
                full = count_macs(model, example_input)
                measure = lambda m: count_macs(m, example_input)  # noqa: E731
            else:
                full = count_params(model)
                measure = count_params
            k = _budget_prefix(model, plan, order, measure, (1.0 - sparsity) * full)
        removed = order[:k]
        if config.round_to > 1:
            from nnslim.pruning.channel import _round_groups

            removed = _round_groups(plan, scores, removed, config.round_to)
    if example_input is not None:
        removed = _check_on_a_copy(model, plan, removed, example_input)
    return shrink(plan, removed)
