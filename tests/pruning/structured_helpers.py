"""A reference for channel pruning: the unpruned model with the removed channels forced to zero.

Removing a coupled channel must compute what the original computes when that channel is zero at every
member's output (producer rows, BatchNorm, grouped conv): its consumers then add nothing for it.
"""
import copy

import torch
import torch.nn as nn

from nnslim.pruning.channel import _example_args, plan_channels, removal_order, shrink


def _call(model, example_input):
    args, kwargs = _example_args(example_input)
    return model(*args, **kwargs)


def plan_and_remove(model, sparsity, example_input, scope="layer", active=None, **kw):
    names = active if active is not None else [n for n, m in model.named_modules()
                                               if isinstance(m, (nn.Conv2d, nn.Linear))]
    plan = plan_channels(model, names, example_input, **kw)
    g = torch.Generator().manual_seed(0)
    scores = dict(zip(plan.prunable, torch.rand(len(plan.prunable), generator=g).tolist()))
    removed = removal_order(plan, scores, {}, sparsity, scope, 1)
    return plan, removed


def zeroed_reference(model, plan, removed):
    ref = copy.deepcopy(model)
    mods = dict(ref.named_modules())
    gone = torch.zeros(len(plan.roots), dtype=torch.bool)
    gone[torch.tensor(removed, dtype=torch.long)] = True
    for m in plan.members:
        if m.kind not in ("out", "gconv", "bn", "emb"):
            continue
        mask = gone[plan.roots[m.ids]]
        if not mask.any():
            continue
        module = mods[m.module]
        dim = -1 if isinstance(module, (nn.Linear, nn.Embedding)) else 1

        def hook(mod, inp, out, mask=mask, dim=dim):
            shape = [1] * out.dim()
            shape[dim] = -1
            return out * (~mask).to(out.dtype).reshape(shape)

        module.register_forward_hook(hook)
    return ref


def check_shrink_matches_zeroed(model, example_input, sparsity=0.5, **kw):
    model.eval()
    plan, removed = plan_and_remove(model, sparsity, example_input, **kw)
    assert removed, "nothing was pruned"
    ref = zeroed_reference(model, plan, removed)
    shape = _call(model, example_input).shape
    shrink(plan, removed)
    with torch.no_grad():
        out, want = _call(model, example_input), _call(ref, example_input)
    assert out.shape == shape
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-4)
    return plan, removed
