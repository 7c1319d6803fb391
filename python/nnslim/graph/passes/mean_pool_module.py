"""mean_pool_module: x.mean((2, 3), keepdim=True)  ==>  a call of an nn.AdaptiveAvgPool2d(1) submodule.

Pattern: the mean over both spatial dimensions of a 4-D tensor (shapes from propagate_shapes), in its
method and torch.mean forms, dims given as (2, 3), [-2, -1] or any order of the two, keyword or
positional; keepdim=False becomes the pool followed by flatten(1). timm writes every squeeze-excite
block (EfficientNet, MobileNetV3, RegNetZ...) and several heads this way; as a module it can read an
int8 edge (nnslim.nn.AdaptiveAvgPool2d) and a squeeze-excite block can run as one kernel call, as
global_pool_module does for F.adaptive_avg_pool2d. A mean with a dtype, over other dimensions or on
another rank is left alone."""
from __future__ import annotations

import torch
import torch.fx as fx

from nnslim.graph.capture import output_shape
from nnslim.graph.passes._finish import finish_pass
from nnslim.graph.passes.global_pool_module import pool_module_call
from nnslim.graph.patterns import _arg


def _spatial_mean(node: fx.Node):
    """(x, keepdim) when node is mean(x, dims over H and W of a 4-D x[, keepdim]), else None."""
    if node.op == "call_method" and node.target == "mean":
        x, dims, keepdim = node.args[0], _arg(node, 1, "dim", None), _arg(node, 2, "keepdim", False)
        known = {"dim", "keepdim"}
    elif node.op == "call_function" and node.target is torch.mean:
        x, dims, keepdim = _arg(node, 0, "input", None), _arg(node, 1, "dim", None), _arg(node, 2, "keepdim", False)
        known = {"input", "dim", "keepdim"}
    else:
        return None
    if not isinstance(x, fx.Node) or set(node.kwargs) - known or len(node.args) > 3 or not isinstance(keepdim, bool):
        return None
    shape = output_shape(x)
    if shape is None or len(shape) != 4 or not isinstance(dims, (tuple, list)) or len(dims) != 2 or \
            not all(isinstance(d, int) and -4 <= d < 4 for d in dims):
        return None
    if sorted(d % 4 for d in dims) != [2, 3]:
        return None
    return x, keepdim


def mean_pool_module(gm: fx.GraphModule) -> fx.GraphModule:
    made = sum(1 for name, _ in gm.named_children() if name.startswith("global_pool"))
    done = 0
    for node in list(gm.graph.nodes):
        match = _spatial_mean(node)
        if match is None:
            continue
        x, keepdim = match
        new = pool_module_call(gm, node, x, made)
        if not keepdim:
            with gm.graph.inserting_after(new):
                new = gm.graph.call_method("flatten", (new, 1))
        new.meta.update(node.meta)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        made += 1
        done += 1
    return finish_pass(gm, "nnslim_mean_pool_modules", done, prune=False)
