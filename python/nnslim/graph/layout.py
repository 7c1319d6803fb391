"""keep_layout: a GraphModule rewritten by passes takes back the module tree of the model it came from,
so names, Sequential indexing and nnslim.save / nnslim.load(path, fresh_model) keep working."""
from __future__ import annotations

import torch.fx as fx
import torch.nn as nn

from nnslim._utils import set_submodule


def keep_layout(gm: fx.GraphModule, model: nn.Module) -> None:
    """Gives ``gm`` the module tree of ``model`` (consumed): Sequential containers stay indexable and
    every name keeps its place; a module the passes removed (folded BatchNorm, fused activation)
    becomes nn.Identity there, as the module-by-module path does; top-level modules a pass added stay."""
    in_graph = dict(gm.named_modules())
    opaque = tuple(f"{n}." for n in gm.meta.get("nnslim_opaque", []))
    for fqn, mod in list(model.named_modules()):
        if not fqn or fqn.startswith(opaque) or next(mod.children(), None) is not None:
            continue
        g = in_graph.get(fqn, None)
        if type(g) is nn.Module and type(mod) is not nn.Module:
            # fx's holder of attributes the graph reads (get_attr: code passing `fc.weight` to
            # F.linear) without calling the module: keep the module itself, which holds the same
            # tensors, so its type (an nn.Linear the int8 path can convert) and place survive.
            continue
        set_submodule(model, fqn, g or nn.Identity())
    # Top-level modules a pass added (global_pool_module's pools) have no place in the model: they stay.
    added = {name: m for name, m in gm._modules.items() if name not in model._modules}
    for name in list(gm._modules):
        delattr(gm, name)
    for name, child in model.named_children():  # in the original order
        setattr(gm, name, child)
    for name, child in added.items():
        setattr(gm, name, child)
    if isinstance(model, nn.Sequential):
        # q[0] keeps working on a quantized Sequential. torch.fx makes one class per GraphModule
        # instance, so these methods land on this instance only (a deepcopy gets a fresh class).
        cls = type(gm)
        cls.__getitem__ = lambda self, i: list(self._modules.values())[i]
        cls.__len__ = lambda self: len(self._modules)
        cls.__iter__ = lambda self: iter(self._modules.values())
