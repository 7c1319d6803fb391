"""Graph capture by running the model once: every torch call on the way is recorded as an fx node.

For models that torch.fx cannot trace symbolically (data-dependent control flow, ``*args`` forwarding,
in-place writes into proxies: most HF transformers), the example input takes one concrete path through
``forward`` and a TorchFunctionMode sees each torch function and tensor method it calls; leaf modules
(torch.nn layers, the types the caller names) are recorded as single ``call_module`` nodes and what runs
inside them is not. Tensors are matched by identity, so the recorded graph is the real dataflow of that
call, with each node's output shape attached (``node.meta["tensor_meta"].shape``).

The result answers read-only questions (which layers consume which tensors); it is not re-executed.
A different input could take another branch of the Python code: the graph is exact for this input, as
any trace-by-example is (Torch-Pruning's autograd walk, torch.export with concrete shapes).
"""
from __future__ import annotations

import operator
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.fx as fx
import torch.nn as nn
from torch.overrides import TorchFunctionMode

__all__ = ["RecordedGraph", "record_graph"]

# Python operators on tensors, as the call_function targets the graph passes already understand.
_DUNDER = {"__add__": operator.add, "__iadd__": operator.iadd, "__radd__": operator.add,
           "__sub__": operator.sub, "__isub__": operator.isub, "__rsub__": operator.sub,
           "__mul__": operator.mul, "__imul__": operator.imul, "__rmul__": operator.mul,
           "__truediv__": operator.truediv, "__itruediv__": operator.itruediv, "__rtruediv__": operator.truediv,
           "__getitem__": operator.getitem, "__neg__": torch.neg, "__matmul__": torch.matmul,
           "__rmatmul__": torch.matmul, "__pow__": torch.pow}
_SWAPPED = {"__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__rmatmul__"}


class RecordedGraph:
    """What the channel analysis reads from a GraphModule: ``graph`` and the model's submodules."""

    def __init__(self, model: nn.Module, graph: fx.Graph):
        self.graph = graph
        self._model = model

    def named_modules(self):
        return self._model.named_modules()

    def get_submodule(self, target: str) -> nn.Module:
        return self._model.get_submodule(target)


def _method_name(func) -> Optional[str]:
    qual = getattr(func, "__qualname__", "") or ""
    owner, _, name = qual.rpartition(".")
    if owner in ("TensorBase", "Tensor", "_TensorBase") and name:
        return name
    return None


class _Recorder(TorchFunctionMode):
    def __init__(self, model: nn.Module, leaf_types: tuple):
        super().__init__()
        self.graph = fx.Graph()
        self.names = {m: n for n, m in model.named_modules()}
        self.leaf_types = leaf_types
        self.depth = 0
        self.env: Dict[int, fx.Node] = {}
        self.keep: List[torch.Tensor] = []  # holds every seen tensor so ids are never reused
        self.consts = 0
        self.pending: List[Tuple[tuple, dict]] = []

    # -- tensors <-> nodes --------------------------------------------------------------------------
    def bind(self, t: torch.Tensor, node: fx.Node) -> None:
        node.meta["tensor_meta"] = SimpleNamespace(shape=t.shape, dtype=t.dtype)
        self.env[id(t)] = node
        self.keep.append(t)

    def node_of(self, t: torch.Tensor) -> fx.Node:
        node = self.env.get(id(t))
        if node is None:  # a parameter or constant read directly: an input that carries no channels
            node = self.graph.placeholder(f"_const{self.consts}")
            self.consts += 1
            self.bind(t, node)
        return node

    def to_args(self, value):
        if isinstance(value, torch.Tensor):
            return self.node_of(value)
        if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
            mapped = [self.to_args(v) for v in value]
            return type(value)(mapped) if isinstance(value, list) else tuple(mapped)
        if isinstance(value, dict):
            return {k: self.to_args(v) for k, v in value.items()}
        if isinstance(value, torch.Size):
            return tuple(value)
        if value is None or isinstance(value, (int, float, bool, str, torch.dtype, torch.device, slice,
                                               type(Ellipsis))):
            return value
        return None  # objects the analysis never needs (caches, configs)

    def bind_outputs(self, node: fx.Node, out) -> None:
        if isinstance(out, torch.Tensor):
            self.bind(out, node)
            return
        items = list(out) if isinstance(out, (tuple, list)) else None
        if items is None:
            return
        for i, t in enumerate(items):
            if isinstance(t, torch.Tensor):
                self.bind(t, self.graph.call_function(operator.getitem, (node, i)))

    # -- recording ----------------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        # __setitem__ returns nothing but writes into a tensor: recorded so the analysis sees the write.
        if self.depth == 0 and (_has_tensor(out) or _method_name(func) == "__setitem__"):
            self.record(func, args, kwargs, out)
        return out

    def record(self, func, args, kwargs, out) -> None:
        name = _method_name(func)
        a, kw = self.to_args(tuple(args)), self.to_args(dict(kwargs))
        if name in _DUNDER:
            if name in _SWAPPED and len(a) == 2:
                a = (a[1], a[0])
            node = self.graph.call_function(_DUNDER[name], a, kw)
        elif name is not None:
            node = self.graph.call_method(name, a, kw)
        else:
            node = self.graph.call_function(func, a, kw)
        self.bind_outputs(node, out)

    def pre_hook(self, module, args, kwargs):
        if self.depth == 0:
            self.pending.append((args, kwargs))
        self.depth += 1

    def post_hook(self, module, args, kwargs, out):
        self.depth -= 1
        if self.depth == 0:
            a, kw = self.pending.pop()
            node = self.graph.call_module(self.names[module], self.to_args(tuple(a)), self.to_args(dict(kw)))
            self.bind_outputs(node, out)


def _has_tensor(out) -> bool:
    if isinstance(out, torch.Tensor):
        return True
    return isinstance(out, (tuple, list)) and any(isinstance(t, torch.Tensor) for t in out)


def _flat_tensors(value, out: List[torch.Tensor]) -> None:
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif isinstance(value, dict) or hasattr(value, "items") and hasattr(value, "keys"):
        for v in value.values():
            _flat_tensors(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _flat_tensors(v, out)


def _is_leaf(m: nn.Module, leaf_types: tuple) -> bool:
    if leaf_types and isinstance(m, leaf_types):
        return True
    if type(m).__module__ == "transformers.activations" and not list(m.parameters()):
        return True
    return type(m).__module__.startswith("torch.nn.modules") and not isinstance(
        m, (nn.Sequential, nn.ModuleList, nn.ModuleDict))


@torch.no_grad()
def record_graph(model: nn.Module, args: Sequence[Any] = (), kwargs: Optional[Dict[str, Any]] = None,
                 leaf_types: tuple = ()) -> RecordedGraph:
    """Run ``model(*args, **kwargs)`` once and return the graph of what it computed."""
    kwargs = dict(kwargs or {})
    rec = _Recorder(model, tuple(leaf_types))
    for i, a in enumerate(args):
        if isinstance(a, torch.Tensor):
            rec.bind(a, rec.graph.placeholder(f"arg{i}"))
    for k, v in kwargs.items():
        if isinstance(v, torch.Tensor):
            rec.bind(v, rec.graph.placeholder(k))
    hooks = []
    for m in model.modules():
        if m is not model and _is_leaf(m, rec.leaf_types):
            hooks.append(m.register_forward_pre_hook(rec.pre_hook, with_kwargs=True))
            hooks.append(m.register_forward_hook(rec.post_hook, with_kwargs=True))
    was = model.training
    model.eval()
    try:
        with rec:
            out = model(*args, **kwargs)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    tensors: List[torch.Tensor] = []
    _flat_tensors(out, tensors)
    rec.graph.output(tuple(rec.env[id(t)] for t in tensors if id(t) in rec.env))
    return RecordedGraph(model, rec.graph)
