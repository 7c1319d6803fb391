"""Node patterns shared by the passes: which fx nodes are convolutions, BatchNorms, activations and
adds, in their module, torch.nn.functional, torch.* and method forms."""
from __future__ import annotations

import operator
from typing import Optional, Tuple

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from nnslim.graph.fused import FusedConv2d

ActSpec = Tuple[str, float, float]  # (name, lo, hi) in FusedConv2d's terms


def module_of(gm: fx.GraphModule, node: fx.Node) -> Optional[nn.Module]:
    return gm.get_submodule(node.target) if node.op == "call_module" else None


def calls_of(gm: fx.GraphModule, target: str) -> int:
    """How many nodes call the submodule ``target`` (a shared module must not be rewritten for one use)."""
    return sum(1 for n in gm.graph.nodes if n.op == "call_module" and n.target == target)


def is_conv(gm: fx.GraphModule, node: fx.Node) -> bool:
    m = module_of(gm, node)
    return type(m) in (nn.Conv2d, FusedConv2d)


def sole_producer(gm: fx.GraphModule, node: fx.Node) -> bool:
    """The node's output feeds exactly one user and its module is called only here."""
    return len(node.users) == 1 and (node.op != "call_module" or calls_of(gm, node.target) == 1)


def _arg(node: fx.Node, index: int, name: str, default):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


_RELU_FUNCS = {F.relu, torch.relu, torch.relu_}
_HARDSWISH_FUNCS = {F.hardswish}
_HARDSIGMOID_FUNCS = {F.hardsigmoid}


def activation_of(gm: fx.GraphModule, node: fx.Node) -> Optional[ActSpec]:
    """The activation ``node`` applies to its first input, or None."""
    if node.op == "call_module":
        m = module_of(gm, node)
        t = type(m)
        if t is nn.ReLU:
            return ("relu", 0.0, 0.0)
        if t in (nn.ReLU6, nn.Hardtanh):
            return ("clamp", float(m.min_val), float(m.max_val))
        if t is nn.Hardswish:
            return ("hardswish", 0.0, 0.0)
        if t is nn.Hardsigmoid:
            return ("hardsigmoid", 0.0, 0.0)
        return None
    if node.op == "call_function":
        if node.target in _RELU_FUNCS:
            return ("relu", 0.0, 0.0)
        if node.target is F.relu6:
            return ("clamp", 0.0, 6.0)
        if node.target is F.hardtanh:
            return ("clamp", float(_arg(node, 1, "min_val", -1.0)), float(_arg(node, 2, "max_val", 1.0)))
        if node.target in _HARDSWISH_FUNCS:
            return ("hardswish", 0.0, 0.0)
        if node.target in _HARDSIGMOID_FUNCS:
            return ("hardsigmoid", 0.0, 0.0)
        return None
    if node.op == "call_method" and node.target in ("relu", "relu_"):
        return ("relu", 0.0, 0.0)
    return None


def add_operands(node: fx.Node) -> Optional[Tuple[fx.Node, fx.Node]]:
    """(a, b) when ``node`` is a plain tensor add a + b (no alpha, no out), else None."""
    if node.op == "call_function" and node.target in (operator.add, operator.iadd, torch.add):
        if len(node.args) == 2 and not node.kwargs:
            a, b = node.args
        else:
            return None
    elif node.op == "call_method" and node.target in ("add", "add_") and len(node.args) == 2 and not node.kwargs:
        a, b = node.args
    else:
        return None
    if isinstance(a, fx.Node) and isinstance(b, fx.Node):
        return a, b
    return None


def batchnorm_of(gm: fx.GraphModule, node: fx.Node):
    """For an inference BatchNorm node: (input node, (running_mean, running_var, weight, bias, eps)); else None.
    Module form (nn.BatchNorm1d / 2d) and F.batch_norm with get_attr statistics and training=False."""
    if node.op == "call_module":
        m = module_of(gm, node)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.running_mean is not None and len(node.args) == 1:
            return node.args[0], (m.running_mean, m.running_var, m.weight if m.affine else None,
                                  m.bias if m.affine else None, m.eps)
        return None
    if node.op == "call_function" and node.target is F.batch_norm:
        if bool(_arg(node, 5, "training", False)):
            return None
        tensors = []
        for i, name in ((1, "running_mean"), (2, "running_var"), (3, "weight"), (4, "bias")):
            a = _arg(node, i, name, None)
            if a is None and i >= 3:
                tensors.append(None)
                continue
            if not (isinstance(a, fx.Node) and a.op == "get_attr"):
                return None
            tensors.append(_get_attr(gm, a.target))
        return node.args[0], (*tensors, float(_arg(node, 7, "eps", 1e-5)))
    return None


def _get_attr(gm: fx.GraphModule, target: str) -> torch.Tensor:
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj
