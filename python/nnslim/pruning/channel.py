"""Structured channel pruning with a real shape shrink.

Removing output channel c of a layer is only sound if every tensor computed from that channel is
either dropped with it or never mixed with other channels. We trace the model with torch.fx and walk
forward from each producer (Conv2d / Linear) through ops known to act per channel (activations,
pooling, dropout, scalar arithmetic), collecting the modules that must shrink with it (BatchNorm,
depthwise convs) and the consumers whose *inputs* shrink (Conv2d in-channels, Linear in-features; a
Flatten in between makes each channel a block of H*W Linear columns). Anything else (residual add,
concatenation, reshapes, norms over channels, an unknown module) could silently change the function,
so we refuse it and name the layer rather than guess.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from nnslim.pruning.importance import channel_scores
from nnslim.pruning.masks import is_pruned

__all__ = ["PruningGraphError", "ChannelPlan", "plan_channels", "shrink_channels", "select_channels"]


class PruningGraphError(ValueError):
    """The model's graph cannot be channel-pruned safely at the named layer(s)."""


_ELEMENTWISE_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.ELU,
                        nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Softplus, nn.Identity, nn.Dropout,
                        nn.AlphaDropout)
_SPATIAL_MODULES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout2d)
_ELEMENTWISE_FUNCS = {F.relu, F.relu6, F.leaky_relu, F.gelu, F.silu, F.elu, F.hardswish, F.hardsigmoid,
                      F.mish, F.softplus, F.dropout, F.sigmoid, F.tanh, torch.relu, torch.sigmoid, torch.tanh,
                      torch.clamp, torch.nn.functional.relu_}
_SPATIAL_FUNCS = {F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.dropout2d}
_ELEMENTWISE_METHODS = {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "clamp_min",
                        "clamp_max", "contiguous", "detach"}
_SCALAR_ARITH = {operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd, operator.imul,
                 torch.add, torch.sub, torch.mul, torch.div}

# What the channel axis of a tensor looks like as we walk forward:
#   "conv": (N, C, H, W) channels on dim 1;  "feat": (N, C) features of a Linear, channels last;
#   "flat": a flattened conv map, channel c owns a contiguous block of H*W columns.
_CONV, _FEAT, _FLAT = "conv", "feat", "flat"


@dataclass
class ChannelPlan:
    """Everything that changes when producer ``name`` loses output channels."""

    name: str
    module: nn.Module
    channels: int
    followers: List[Tuple[str, nn.Module]] = field(default_factory=list)   # shrink dim 0 with it
    consumers: List[Tuple[str, nn.Module, str]] = field(default_factory=list)  # (name, module, kind)


class _Unsafe(Exception):
    pass


def _describe(node: fx.Node, modules: Dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        return f"module {node.target!r} ({type(modules[node.target]).__name__})"
    if node.op == "call_function":
        return f"function {getattr(node.target, '__name__', node.target)}()"
    if node.op == "call_method":
        return f"method .{node.target}()"
    return f"{node.op} {node.target!r}"


def _is_flatten_from_1(node: fx.Node, modules) -> bool:
    if node.op == "call_module" and isinstance(modules[node.target], nn.Flatten):
        f = modules[node.target]
        return f.start_dim == 1 and f.end_dim == -1
    if (node.op == "call_function" and node.target is torch.flatten) or (
            node.op == "call_method" and node.target == "flatten"):
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return start == 1 and end == -1
    if node.op == "call_method" and node.target in ("view", "reshape"):
        # x.view(x.size(0), -1) / x.reshape(B, -1): keep the batch, flatten the rest.
        return len(node.args) == 3 and node.args[2] == -1 and not node.kwargs
    return False


def _only_scalars(node: fx.Node, src: fx.Node) -> bool:
    others = [a for a in list(node.args) + list(node.kwargs.values()) if a is not src]
    return len(others) == len(node.args) + len(node.kwargs) - 1 and all(
        isinstance(a, (int, float, bool)) or a is None for a in others)


def _benign(node: fx.Node, src: fx.Node) -> bool:
    """Uses that read only the batch size, which channel pruning does not change."""
    if node.op == "call_method" and node.target == "size" and node.args[1:] == (0,) and node.args[0] is src:
        return True
    if node.op == "call_function" and node.target is getattr and node.args[1] == "shape":
        return all(u.op == "call_function" and u.target is operator.getitem and u.args[1] == 0
                   for u in node.users)
    return False


def _trace(model: nn.Module) -> fx.GraphModule:
    try:
        return fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many types (TraceError, TypeError, RuntimeError...)
        raise PruningGraphError(
            f"pattern='channel': {type(model).__name__} cannot be traced by torch.fx ({type(exc).__name__}: "
            f"{exc}). Channel pruning needs the graph to know which layers consume each channel; prune a "
            f"traceable sub-module, or use pattern='unstructured' / 'N:M'") from exc


class _Walker:
    def __init__(self, gm: fx.GraphModule, model: nn.Module):
        self.modules = dict(model.named_modules())
        self.calls: Dict[str, int] = {}
        for n in gm.graph.nodes:
            if n.op == "call_module":
                self.calls[n.target] = self.calls.get(n.target, 0) + 1

    def _owned(self, name: str) -> nn.Module:
        # A module called from two places sees two different tensors; shrinking it for one breaks the other.
        if self.calls.get(name, 0) > 1:
            raise _Unsafe(f"module {name!r} is called {self.calls[name]} times in forward (shared weights)")
        module = self.modules[name]
        if is_pruned(module):
            raise _Unsafe(f"module {name!r} carries a weight mask; channel-prune before "
                          "unstructured/N:M pruning, or call remove_masks() first")
        return module

    def walk(self, name: str, node: fx.Node, module: nn.Module) -> Optional[ChannelPlan]:
        """The plan for producer ``name``; None when its channels are (part of) the model output."""
        self._owned(name)
        channels = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
        plan = ChannelPlan(name, module, channels)
        feeds_output = False
        stack = [(node, _CONV if isinstance(module, nn.Conv2d) else _FEAT)]
        seen = set()
        while stack:
            src, kind = stack.pop()
            for user in src.users:
                if (user, kind) in seen:
                    continue
                seen.add((user, kind))
                step = self._step(user, src, kind, channels, plan)
                if step == "output":
                    feeds_output = True
                elif step is not None:
                    stack.append((user, step))
        return None if feeds_output else plan

    def _step(self, node: fx.Node, src: fx.Node, kind: str, channels: int, plan: ChannelPlan):
        """Classify one use of a channel-carrying tensor: next kind, "output", or None (walk stops)."""
        if node.op == "output":
            return "output"
        if _benign(node, src):
            return None
        if node.op == "call_module":
            m = self.modules[node.target]
            if isinstance(m, _ELEMENTWISE_MODULES) or (isinstance(m, nn.PReLU) and m.num_parameters == 1):
                return kind
            if isinstance(m, _SPATIAL_MODULES) and kind == _CONV:
                return kind
            if isinstance(m, nn.Flatten) and kind == _CONV and _is_flatten_from_1(node, self.modules):
                return _FLAT
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                want = _CONV if isinstance(m, nn.BatchNorm2d) else _FEAT
                if kind == want and m.num_features == channels:
                    plan.followers.append((node.target, self._owned(node.target)))
                    return kind
            elif isinstance(m, nn.Conv2d) and kind == _CONV and m.in_channels == channels:
                if m.groups == 1:
                    plan.consumers.append((node.target, self._owned(node.target), _CONV))
                    return None
                if m.groups == m.in_channels == m.out_channels:
                    # Depthwise: channel c in -> channel c out, so it shrinks along with the producer.
                    plan.followers.append((node.target, self._owned(node.target)))
                    return kind
            elif isinstance(m, nn.Linear):
                if kind == _FEAT and m.in_features == channels or kind == _FLAT and m.in_features % channels == 0:
                    plan.consumers.append((node.target, self._owned(node.target), kind))
                    return None
            raise _Unsafe(f"its output reaches {_describe(node, self.modules)}, which channel pruning "
                          "does not know how to shrink")
        if node.op == "call_function" and node.target in _ELEMENTWISE_FUNCS and node.args[0] is src:
            return kind
        if node.op == "call_function" and node.target in _SPATIAL_FUNCS and node.args[0] is src and kind == _CONV:
            return kind
        if node.op == "call_method" and node.target in _ELEMENTWISE_METHODS and node.args[0] is src:
            return kind
        if node.op == "call_function" and node.target in _SCALAR_ARITH and _only_scalars(node, src):
            return kind
        if kind == _CONV and node.args and node.args[0] is src and _is_flatten_from_1(node, self.modules):
            return _FLAT
        if node.op == "call_function" and node.target in (operator.add, torch.add, operator.iadd):
            raise _Unsafe(f"its output is added to another tensor ({_describe(node, self.modules)}, e.g. a "
                          "residual connection); both sides would have to lose the same channels")
        if node.op == "call_function" and node.target in (torch.cat, torch.concat, torch.stack):
            raise _Unsafe(f"its output is concatenated ({_describe(node, self.modules)})")
        raise _Unsafe(f"its output reaches {_describe(node, self.modules)}, which may mix or reshape channels")


def plan_channels(model: nn.Module, producers: List[Tuple[str, nn.Module]]) -> List[ChannelPlan]:
    """Trace ``model`` and plan every producer; raises PruningGraphError naming all unsafe layers.

    Producers whose channels are model outputs are dropped from the plan: the caller's contract is
    the output shape, so the last layer never shrinks.
    """
    gm = _trace(model)
    walker = _Walker(gm, model)
    nodes = {n.target: n for n in gm.graph.nodes if n.op == "call_module"}
    plans, problems = [], []
    for name, module in producers:
        if isinstance(module, nn.Conv2d) and module.groups != 1:
            if module.groups == module.in_channels == module.out_channels:
                continue  # depthwise: follows its input's producer, has no channels of its own to choose
            problems.append(f"{name!r}: grouped convolution (groups={module.groups}) is not supported")
            continue
        if name not in nodes:
            # Not called in forward, so no graph edge can be checked; leave it alone.
            continue
        try:
            plan = walker.walk(name, nodes[name], module)
        except _Unsafe as exc:
            problems.append(f"{name!r}: {exc}")
            continue
        if plan is not None:
            plans.append(plan)
    if problems:
        names = [p.split(":", 1)[0].strip("'") for p in problems]
        raise PruningGraphError("pattern='channel': cannot shrink these layers safely:\n  " + "\n  ".join(problems)
                                + f"\nLeave them dense with PruneConfig(skip={names!r}) (or filter_fn).")
    return plans


def select_channels(scores: Dict[str, torch.Tensor], targets: Dict[str, Optional[float]],
                    global_sparsity: float, scope: str) -> Dict[str, torch.Tensor]:
    """Sorted kept-channel indices per producer; every layer keeps at least one channel.

    ``targets[name]`` is a per-layer fraction, or None for "part of the global pool". Under global
    scope scores are divided by their layer's mean: raw filter norms grow with fan-in, and a global
    threshold on them would empty the narrow-fan-in layers first.
    """
    keep: Dict[str, torch.Tensor] = {}
    pool = []
    for name, s in scores.items():
        target = targets[name]
        if target is None and scope == "global":
            pool.append(name)
            continue
        frac = global_sparsity if target is None else target
        k = min(int(round(frac * s.numel())), s.numel() - 1)
        order = torch.argsort(s, stable=True)
        keep[name] = order[k:].sort().values
    if pool:
        total = sum(scores[n].numel() for n in pool)
        k = int(round(global_sparsity * total))
        flat, owner = [], []
        for i, n in enumerate(pool):
            s = scores[n].double()
            mean = s.mean()
            flat.append(s / mean if mean > 0 else s)
            owner.append(torch.full((s.numel(),), i))
        flat, owner = torch.cat(flat), torch.cat(owner)
        local = torch.cat([torch.arange(scores[n].numel()) for n in pool])
        alive = [scores[n].numel() for n in pool]
        removed = [[] for _ in pool]
        count = 0
        for idx in torch.argsort(flat, stable=True).tolist():
            if count >= k:
                break
            i = int(owner[idx])
            if alive[i] > 1:
                alive[i] -= 1
                removed[i].append(int(local[idx]))
                count += 1
        for i, n in enumerate(pool):
            mask = torch.ones(scores[n].numel(), dtype=torch.bool)
            mask[removed[i]] = False
            keep[n] = mask.nonzero().flatten()
    return keep


def _replace_param(module: nn.Module, name: str, value: torch.Tensor) -> None:
    old = getattr(module, name, None)
    if old is None:
        return
    if isinstance(old, nn.Parameter):
        setattr(module, name, nn.Parameter(value.contiguous().clone(), requires_grad=old.requires_grad))
    else:
        setattr(module, name, value.contiguous().clone())


@torch.no_grad()
def _shrink_out(module: nn.Module, keep: torch.Tensor) -> None:
    keep = keep.to(module.weight.device)
    _replace_param(module, "weight", module.weight.index_select(0, keep))
    if getattr(module, "bias", None) is not None:
        _replace_param(module, "bias", module.bias.index_select(0, keep))
    n = len(keep)
    if isinstance(module, nn.Conv2d):
        module.out_channels = n
        if module.groups > 1:  # depthwise follower
            module.in_channels = module.groups = n
    else:
        module.out_features = n


@torch.no_grad()
def _shrink_bn(bn: nn.Module, keep: torch.Tensor) -> None:
    for attr in ("weight", "bias", "running_mean", "running_var"):
        t = getattr(bn, attr, None)
        if t is not None:
            _replace_param(bn, attr, t.index_select(0, keep.to(t.device)))
    bn.num_features = len(keep)


@torch.no_grad()
def _shrink_in(module: nn.Module, keep: torch.Tensor, kind: str, channels: int) -> None:
    keep = keep.to(module.weight.device)
    if kind == _FLAT:
        block = module.in_features // channels
        cols = (keep[:, None] * block + torch.arange(block, device=keep.device)).reshape(-1)
    else:
        cols = keep
    _replace_param(module, "weight", module.weight.index_select(1, cols))
    if isinstance(module, nn.Conv2d):
        module.in_channels = len(keep)
    else:
        module.in_features = len(cols)


def shrink_channels(plans: List[ChannelPlan], keep: Dict[str, torch.Tensor]) -> Dict[str, Tuple[int, int]]:
    """Apply the kept indices; returns {producer: (channels before, after)}."""
    changed = {}
    for plan in plans:
        k = keep.get(plan.name)
        if k is None or len(k) == plan.channels:
            continue
        _shrink_out(plan.module, k)
        for _, f in plan.followers:
            (_shrink_bn if isinstance(f, nn.modules.batchnorm._BatchNorm) else _shrink_out)(f, k)
        for _, c, kind in plan.consumers:
            _shrink_in(c, k, kind, plan.channels)
        changed[plan.name] = (plan.channels, len(k))
    return changed


def producer_scores(weight_scores: Dict[str, torch.Tensor], norm: str) -> Dict[str, torch.Tensor]:
    return {name: channel_scores(s, norm) for name, s in weight_scores.items()}

