"""channel_mul_module: gate * x (or x * gate), gate (N, C, 1, 1) and x (N, C, H, W)  ==>  ChannelMul()(x, gate).

Pattern: a two-tensor multiply (operator / torch.* / method form) whose recorded shapes are a 4-D
activation and a per-channel gate of the same batch and channels: the squeeze-excite multiply of
MobileNetV3 / EfficientNet. As a module (``se_mul``, ``se_mul_1``, ... in graph order) the int8 graph
can keep x int8 through it."""
from __future__ import annotations

import operator

import torch
import torch.fx as fx

from nnslim.graph.capture import output_shape
from nnslim.graph.fused import ChannelMul
from nnslim.graph.passes._finish import finish_pass

_MULS = {operator.mul, torch.mul}


def _is_mul(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in _MULS
    return node.op == "call_method" and node.target == "mul"


def _split(node: fx.Node):
    """(x, gate) when the multiply's operands are an (N, C, H, W) activation and an (N, C, 1, 1) gate."""
    if len(node.args) != 2 or node.kwargs or not all(isinstance(a, fx.Node) for a in node.args):
        return None
    a, b = node.args
    sa, sb = output_shape(a), output_shape(b)
    if sa is None or sb is None or len(sa) != 4 or len(sb) != 4:
        return None
    for x, g, sx, sg in ((a, b, sa, sb), (b, a, sb, sa)):
        if tuple(sg[2:]) == (1, 1) and sx[0] == sg[0] and sx[1] == sg[1] and tuple(sx[2:]) != (1, 1):
            return x, g
    return None


def channel_mul_module(gm: fx.GraphModule) -> fx.GraphModule:
    made = 0
    for node in list(gm.graph.nodes):
        if not _is_mul(node):
            continue
        split = _split(node)
        if split is None:
            continue
        name = "se_mul" if made == 0 else f"se_mul_{made}"
        while hasattr(gm, name):
            name += "_"
        gm.add_submodule(name, ChannelMul())
        with gm.graph.inserting_before(node):
            new = gm.graph.call_module(name, split)
        new.meta.update(node.meta)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        made += 1
    return finish_pass(gm, "nnslim_channel_mul_modules", made, prune=False)
