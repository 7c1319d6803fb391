"""Weight masks that stay enforced while the user trains with any optimizer.

The mask is a ``torch.nn.utils.parametrize`` parametrization: ``module.weight`` is recomputed as
``original * mask`` on every access. So a pruned weight is exactly zero in every forward no matter
what the optimizer does to ``original`` (momentum, weight decay and Adam state all keep moving a
stored tensor, which is why in-place re-masking after the fact is fragile), and its gradient is
``upstream * 0``. The cost is one elementwise multiply per forward.

Consequences a user sees: the trainable tensor is ``module.parametrizations.weight.original`` (the
same Parameter object as before, so an optimizer built before pruning keeps working), state_dict keys
change until ``remove_masks``, and whole-model pickling (``torch.save(model)``) is refused by PyTorch;
save ``state_dict()`` or call ``remove_masks`` first.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

__all__ = ["WeightMask", "apply_mask", "get_mask", "is_pruned", "remove_mask", "remove_masks",
           "make_permanent"]


class WeightMask(nn.Module):
    """Parametrization ``w -> w * mask``; ``mask`` is a buffer so it moves with ``.to()`` and saves."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.mask


def _mask_module(module: nn.Module) -> Optional[WeightMask]:
    if not parametrize.is_parametrized(module, "weight"):
        return None
    for p in module.parametrizations.weight:
        if isinstance(p, WeightMask):
            return p
    return None


def is_pruned(module: nn.Module) -> bool:
    """True when ``module.weight`` carries an nnslim mask (unstructured or N:M)."""
    return _mask_module(module) is not None


def get_mask(module: nn.Module) -> Optional[torch.Tensor]:
    """The {0, 1} mask of ``module.weight`` (same shape and dtype), or None when it is not pruned.

    It is the live buffer: read it, don't write it; ``prune``/``Pruner`` update it.
    """
    p = _mask_module(module)
    return None if p is None else p.mask


def apply_mask(module: nn.Module, mask: torch.Tensor) -> None:
    """Attach ``mask`` to ``module.weight``, or narrow the existing one (pruned weights stay pruned)."""
    weight = module.weight
    if mask.shape != weight.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match weight shape {tuple(weight.shape)}")
    mask = mask.to(device=weight.device, dtype=weight.dtype)
    existing = _mask_module(module)
    if existing is not None:
        existing.mask.mul_(mask)
        return
    parametrize.register_parametrization(module, "weight", WeightMask(mask))
    with torch.no_grad():
        # Zero the stored values too, so the raw parameter agrees with what the model computes.
        module.parametrizations.weight.original.mul_(mask)


def remove_mask(module: nn.Module) -> None:
    """Bake this module's mask into a plain ``weight`` Parameter (zeros stay zeros) and drop it."""
    if not is_pruned(module):
        return
    if len(module.parametrizations.weight) > 1:
        # Someone else's parametrization is stacked on ours; baking would bake theirs as well.
        raise ValueError("remove_mask: module.weight has other parametrizations besides the nnslim mask; "
                         "remove those first")
    parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)


def remove_masks(model: nn.Module) -> nn.Module:
    """Make every nnslim mask in ``model`` permanent: plain weights with exact zeros, no hooks left."""
    for module in model.modules():
        remove_mask(module)
    return model


make_permanent = remove_masks
