"""fuse_conv_activation: act(conv(x[, r]))  ==>  FusedConv2d(activation=act).

Pattern: ReLU / ReLU6 / Hardtanh / Hardswish / Hardsigmoid (module, functional, torch.* or method form)
whose input is a Conv2d node used only by it, with no activation fused yet."""
from __future__ import annotations

import torch.fx as fx

from nnslim.graph.fused import FusedConv2d
from nnslim.graph.patterns import activation_of, is_conv, module_of, sole_producer
from nnslim._utils import set_submodule
from nnslim.graph.passes._finish import finish_pass


def fuse_conv_activation(gm: fx.GraphModule) -> fx.GraphModule:
    fused = 0
    for node in list(gm.graph.nodes):
        spec = activation_of(gm, node)
        if spec is None or not node.args or not isinstance(node.args[0], fx.Node):
            continue
        src = node.args[0]
        if not (is_conv(gm, src) and sole_producer(gm, src)):
            continue
        conv = module_of(gm, src)
        if isinstance(conv, FusedConv2d) and conv.activation != "none":
            continue
        fconv = FusedConv2d.from_conv(conv)
        fconv.activation, fconv.act_lo, fconv.act_hi = spec
        set_submodule(gm, src.target, fconv)
        node.replace_all_uses_with(src)
        src.meta = dict(node.meta) if node.meta else src.meta
        gm.graph.erase_node(node)
        fused += 1
    return finish_pass(gm, "nnslim_fused_activations", fused)
