"""global_pool_module: F.adaptive_avg_pool2d(x, 1)  ==>  a call of an nn.AdaptiveAvgPool2d(1) submodule.

Pattern: the functional global average pool (output size 1 or (1, 1); torchvision's MobileNetV2
head). As a module it can become nnslim.nn.AdaptiveAvgPool2d, which reads an int8 edge, and it gets
a name that save / load can rebuild (``global_pool``, ``global_pool_1``, ... in graph order)."""
from __future__ import annotations

import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from nnslim.graph.passes._finish import finish_pass
from nnslim.graph.patterns import _arg
from nnslim.nn.avg_pool2d import is_global


def pool_module_call(gm: fx.GraphModule, node: fx.Node, x: fx.Node, made: int) -> fx.Node:
    """A call of a new nn.AdaptiveAvgPool2d(1) submodule on x, inserted before node (which it will
    replace), named global_pool, global_pool_1, ... by ``made`` (skipping names taken)."""
    name = "global_pool" if made == 0 else f"global_pool_{made}"
    while hasattr(gm, name):
        name += "_"
    gm.add_submodule(name, nn.AdaptiveAvgPool2d(1))
    with gm.graph.inserting_before(node):
        return gm.graph.call_module(name, (x,))


def global_pool_module(gm: fx.GraphModule) -> fx.GraphModule:
    made = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target is not F.adaptive_avg_pool2d:
            continue
        x, size = _arg(node, 0, "input", None), _arg(node, 1, "output_size", None)
        if not isinstance(x, fx.Node) or not is_global(size) or len(node.args) + len(node.kwargs) != 2:
            continue
        new = pool_module_call(gm, node, x, made)
        new.meta.update(node.meta)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        made += 1
    return finish_pass(gm, "nnslim_global_pool_modules", made, prune=False)
