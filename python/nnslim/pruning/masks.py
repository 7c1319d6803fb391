"""Weight masks that stay enforced while the user trains with any optimizer.

Layout (the ``torch.nn.utils.prune`` convention, so its ``remove``/``is_pruned`` work on our masks
and its masks work with our helpers): the trainable Parameter moves to ``weight_orig`` (the same
object, so an optimizer built before pruning keeps working), the {0, 1} mask is the buffer
``weight_mask``, and a forward pre-hook sets ``module.weight = weight_orig * weight_mask`` before
every forward.

Why this holds under momentum, weight decay and Adam: the optimizer only ever touches
``weight_orig``; whatever it does there, the weight the model computes with is re-multiplied by the
mask at each forward, and the gradient reaching ``weight_orig`` is ``mask * dL/dweight``, zero at
pruned positions. Re-masking weights in place after the step instead would race with optimizer
state (momentum revives them) and break autograd when a model is called twice before backward.

``module.weight`` is refreshed at each forward, so between ``optimizer.step()`` and the next
forward its nonzero values may lag (its zeros never do); ``masked_weight`` is always current. After
the forward it is detached (the autograd graph keeps its own reference), so put regularisers on
``weight_orig`` / ``masked_weight(module)``, not on ``module.weight``.
Unlike ``torch.nn.utils.parametrize``, this deep-copies and pickles like any module; and we update the
mask buffer in place instead of stacking a new torch pruning container per step, so memory stays
flat under a schedule that prunes many times.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from torch.nn.utils import prune as torch_prune

__all__ = ["MaskHook", "apply_mask", "get_mask", "is_pruned", "masked_weight", "remove_mask", "remove_masks",
           "make_permanent"]


class MaskHook(torch_prune.BasePruningMethod):
    """Forward pre-hook ``weight = weight_orig * weight_mask`` (a torch BasePruningMethod for interop)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, name: str = "weight"):
        self._tensor_name = name

    def compute_mask(self, t, default_mask):
        # Masks are computed by nnslim and written into the buffer; torch's combine path keeps them.
        return default_mask


class _DetachWeight:
    """Forward hook: once the forward is done, keep a detached ``module.weight`` on the module.

    The graph already holds what backward needs; leaving the graph tensor on the module would keep
    that graph alive until the next forward and make ``copy.deepcopy(model)`` fail (non-leaf tensor).
    """

    def __call__(self, module, inputs, output):
        if "weight" not in module._parameters and torch.is_tensor(getattr(module, "weight", None)):
            module.weight = module.weight.detach()
        # else: the mask was removed (e.g. by torch.nn.utils.prune.remove); nothing to do.


def _hook(module: nn.Module) -> Optional[torch_prune.BasePruningMethod]:
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, torch_prune.BasePruningMethod) and getattr(hook, "_tensor_name", None) == "weight":
            return hook
    return None


def is_pruned(module: nn.Module) -> bool:
    """True when ``module.weight`` carries a mask (nnslim's, or torch.nn.utils.prune's)."""
    return _hook(module) is not None and hasattr(module, "weight_mask")


def get_mask(module: nn.Module) -> Optional[torch.Tensor]:
    """The {0, 1} mask of ``module.weight`` (weight-shaped), or None when it is not pruned.

    It is the live buffer: read it, don't write it; ``prune``/``Pruner`` update it.
    """
    return module.weight_mask if is_pruned(module) else None


def masked_weight(module: nn.Module) -> torch.Tensor:
    """The weight the module computes with, up to date even right after an optimizer step."""
    if not is_pruned(module):
        return module.weight
    return module.weight_orig * module.weight_mask.to(module.weight_orig.dtype)


@torch.no_grad()
def apply_mask(module: nn.Module, mask: torch.Tensor) -> None:
    """Attach ``mask`` to ``module.weight``, or narrow the existing one (pruned weights stay pruned)."""
    current = module.weight_orig if is_pruned(module) else module.weight
    if mask.shape != current.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match weight shape {tuple(current.shape)}")
    mask = mask.to(device=current.device, dtype=current.dtype)
    if is_pruned(module):
        module.weight_mask.mul_(mask)
    else:
        param = module._parameters.pop("weight")
        module.register_parameter("weight_orig", param)
        module.register_buffer("weight_mask", mask.clone())
        module.register_forward_pre_hook(MaskHook("weight"))
        module.register_forward_hook(_DetachWeight())
    # Zero the stored values too, so the raw parameter agrees with what the model computes.
    module.weight_orig.mul_(module.weight_mask)
    module.weight = masked_weight(module)


def remove_mask(module: nn.Module) -> None:
    """Bake this module's mask into a plain ``weight`` Parameter (zeros stay zeros) and drop it."""
    if is_pruned(module):
        # torch's remove() keeps the Parameter object (optimizers still hold it) and drops the hook.
        torch_prune.remove(module, "weight")
    for key, hook in list(module._forward_hooks.items()):
        if isinstance(hook, _DetachWeight):
            del module._forward_hooks[key]


def remove_masks(model: nn.Module) -> nn.Module:
    """Make every mask in ``model`` permanent: plain weights with exact zeros, no hooks left."""
    for module in model.modules():
        remove_mask(module)
    return model


make_permanent = remove_masks
