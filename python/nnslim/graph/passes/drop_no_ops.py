"""drop_no_ops: conv -> Identity / eval Dropout -> act, and torch._assert(x.ndim == 4)  ==>  conv -> act.

Pattern: nodes that compute nothing at inference: nn.Identity and the nn.Dropout family (modules, in
eval mode: the graph path converts eval models only), F.dropout* called with training=False, and
``torch._assert`` shape checks together with the condition nodes only they read (x.ndim, ==, ...).
timm builds its blocks with Identity placeholders between conv, norm and activation (drop_block,
aa, drop) and asserts the input rank inside every BatchNormAct2d; each of those nodes is one more
user of the conv's output or one more node between it and its activation, so BatchNorm folding and
activation fusion refused them (timm's resnet18d: 8 of its ReLUs in fp32; a RegNet: every
BatchNorm). Run first, before the passes whose patterns they would break.

The asserts only restate what the captured graph already fixes (the int8 kernels take 4-D NCHW
input of the calibration layout and raise their own errors on anything else)."""
from __future__ import annotations

import builtins
import operator

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from nnslim.graph.passes._finish import finish_pass
from nnslim.graph.patterns import _arg

_NO_OP_MODULES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                  nn.FeatureAlphaDropout)
# F.dropout*(input, p, training, inplace): ``training`` is the third argument of each.
_DROPOUT_FUNCS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout}
_ASSERTS = {torch._assert, getattr(torch, "_assert_async", torch._assert)}
# What an assert's condition is built from (x.ndim == 4, x.shape[1] == C, x.dim() > 2, ...): pure,
# so once no assert reads them they can go.
_CONDITION_FUNCS = {builtins.getattr, builtins.len, builtins.isinstance, operator.eq, operator.ne, operator.lt,
                    operator.le, operator.gt, operator.ge, operator.getitem, operator.and_, operator.or_,
                    operator.not_, operator.truth}
_CONDITION_METHODS = {"dim", "size", "ndimension"}


def _identity_input(gm: fx.GraphModule, node: fx.Node):
    """The node's input when it passes its input through unchanged, else None."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        if type(m) in _NO_OP_MODULES and len(node.args) == 1 and not node.kwargs and \
                (type(m) is nn.Identity or not m.training):
            return node.args[0]
        return None
    if node.op == "call_function" and node.target in _DROPOUT_FUNCS:
        training = _arg(node, 2, "training", True)
        if training is False and not bool(_arg(node, 3, "inplace", False)):
            return _arg(node, 0, "input", None)
    return None


def _drop_condition(gm: fx.GraphModule, node) -> int:
    """Erases node and, recursively, the condition nodes only it read; returns how many went."""
    if not isinstance(node, fx.Node) or node.users:
        return 0
    pure = (node.op == "call_function" and node.target in _CONDITION_FUNCS) or \
           (node.op == "call_method" and node.target in _CONDITION_METHODS)
    if not pure:
        return 0
    inputs = list(node.all_input_nodes)
    gm.graph.erase_node(node)
    return 1 + sum(_drop_condition(gm, a) for a in inputs)


def drop_no_ops(gm: fx.GraphModule) -> fx.GraphModule:
    """Removes every no-op node (in place; returns gm). ``gm.nnslim_no_ops_dropped`` counts them."""
    dropped = 0
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target in _ASSERTS:
            inputs = list(node.all_input_nodes)
            gm.graph.erase_node(node)
            dropped += 1 + sum(_drop_condition(gm, a) for a in inputs)
            continue
        src = _identity_input(gm, node)
        if isinstance(src, fx.Node):
            node.replace_all_uses_with(src)
            gm.graph.erase_node(node)
            dropped += 1
    return finish_pass(gm, "nnslim_no_ops_dropped", dropped)
