"""The tail every pass shares: drop what the rewrite left unused, regenerate the code, count."""
from __future__ import annotations

import torch.fx as fx


def finish_pass(gm: fx.GraphModule, counter: str, count: int, prune: bool = True) -> fx.GraphModule:
    """Dead nodes and unused submodules removed (``prune``), code recompiled, ``gm.<counter>`` += count."""
    if prune:
        gm.graph.eliminate_dead_code()
        gm.delete_all_unused_submodules()
    gm.recompile()
    setattr(gm, counter, getattr(gm, counter, 0) + count)
    return gm
