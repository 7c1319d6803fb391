"""fuse_conv_add: add(conv(x), r)  ==>  FusedConv2d(x, r)  (the residual add runs in the conv's epilogue).

Pattern: a tensor add one of whose operands is a Conv2d node used only by the add, with no activation
fused yet, and whose other operand has exactly the add's output shape (no broadcasting). Needs the
shapes of propagate_shapes(). Run it before fuse_conv_activation, so add -> ReLU fuses as well."""
from __future__ import annotations

import torch.fx as fx

from nnslim.graph.capture import output_shape
from nnslim.graph.fused import FusedConv2d
from nnslim.graph.patterns import add_operands, is_conv, module_of, sole_producer
from nnslim._utils import set_submodule
from nnslim.graph.passes._finish import finish_pass


def fuse_conv_add(gm: fx.GraphModule) -> fx.GraphModule:
    fused = 0
    for node in list(gm.graph.nodes):
        operands = add_operands(node)
        if operands is None:
            continue
        out_shape = output_shape(node)
        for conv_node, other in (operands, operands[::-1]):
            if not (is_conv(gm, conv_node) and sole_producer(gm, conv_node)):
                continue
            conv = module_of(gm, conv_node)
            if isinstance(conv, FusedConv2d) and (conv.residual or conv.activation != "none"):
                continue
            if out_shape is None or output_shape(conv_node) != out_shape or output_shape(other) != out_shape:
                continue
            fconv = FusedConv2d.from_conv(conv)
            fconv.residual = True
            set_submodule(gm, conv_node.target, fconv)
            with gm.graph.inserting_before(node):
                new = gm.graph.call_module(conv_node.target, (conv_node.args[0], other))
            new.meta = dict(node.meta)
            node.replace_all_uses_with(new)
            gm.graph.erase_node(node)
            gm.graph.erase_node(conv_node)
            fused += 1
            break
    return finish_pass(gm, "nnslim_fused_adds", fused, prune=False)
