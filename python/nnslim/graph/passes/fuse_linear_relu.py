"""fuse_linear_relu: relu(linear(x))  ==>  FusedLinear(relu=True).

Pattern: a ReLU (module, functional, torch.* or method form) whose input is an nn.Linear node used
only by it. Int8Linear's epilogue fuses ReLU only (clamps and Hardswish stay separate nodes)."""
from __future__ import annotations

import torch.fx as fx
import torch.nn as nn

from nnslim._utils import set_submodule
from nnslim.graph.fused import FusedLinear
from nnslim.graph.passes._finish import finish_pass
from nnslim.graph.patterns import activation_of, module_of, sole_producer


def fuse_linear_relu(gm: fx.GraphModule) -> fx.GraphModule:
    fused = 0
    for node in list(gm.graph.nodes):
        spec = activation_of(gm, node)
        if spec is None or spec[0] != "relu" or not node.args or not isinstance(node.args[0], fx.Node):
            continue
        src = node.args[0]
        layer = module_of(gm, src)
        if type(layer) not in (nn.Linear, FusedLinear) or getattr(layer, "relu", False) or not sole_producer(gm, src):
            continue
        flin = FusedLinear.from_linear(layer)
        flin.relu = True
        set_submodule(gm, src.target, flin)
        node.replace_all_uses_with(src)
        gm.graph.erase_node(node)
        fused += 1
    return finish_pass(gm, "nnslim_fused_linear_relu", fused)
