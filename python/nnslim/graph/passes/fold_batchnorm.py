"""fold_batchnorm: conv / linear -> BatchNorm  ==>  conv / linear with scaled weights and a bias.

Pattern: a BatchNorm (module or F.batch_norm with stored statistics, inference mode) whose input is a
Conv2d / Linear node used by nothing else, whose module is called only there. Wherever it sits:
inside Sequential or not, in residual blocks, in branches."""
from __future__ import annotations

import torch
import torch.fx as fx
import torch.nn as nn

from nnslim.graph.patterns import batchnorm_of, module_of, sole_producer
from nnslim.graph.passes._finish import finish_pass


@torch.no_grad()
def _fold(layer: nn.Module, mean, var, weight, bias, eps) -> None:
    factor = (weight if weight is not None else torch.ones_like(var)) / torch.sqrt(var + eps)
    beta = bias if bias is not None else torch.zeros_like(mean)
    layer.weight.mul_(factor.reshape(-1, *([1] * (layer.weight.dim() - 1))))
    b = layer.bias if layer.bias is not None else torch.zeros_like(mean)
    new_bias = (b - mean) * factor + beta
    if layer.bias is None:
        layer.bias = nn.Parameter(new_bias)
    else:
        layer.bias.copy_(new_bias)


def fold_batchnorm(gm: fx.GraphModule) -> fx.GraphModule:
    """Folds every foldable BatchNorm into its producer (in place; returns gm). Inference only: the
    caller puts the model in eval mode. ``gm.nnslim_folded`` counts the folds."""
    folded = 0
    for node in list(gm.graph.nodes):
        match = batchnorm_of(gm, node)
        if match is None:
            continue
        src, stats = match
        if not isinstance(src, fx.Node) or not sole_producer(gm, src):
            continue
        layer = module_of(gm, src)
        channels = stats[0].numel()
        ok = (isinstance(layer, nn.Conv2d) and layer.out_channels == channels) or \
             (isinstance(layer, nn.Linear) and layer.out_features == channels)
        if not ok:
            continue
        _fold(layer, *stats)
        node.replace_all_uses_with(src)
        gm.graph.erase_node(node)
        folded += 1
    return finish_pass(gm, "nnslim_folded", folded)
