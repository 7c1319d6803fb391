"""Per-weight importance scores: higher means keep."""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from nnslim.pruning.masks import is_pruned, masked_weight

__all__ = ["weight_scores", "channel_scores", "default_loss"]

Layers = List[Tuple[str, nn.Module]]


def _param(module: nn.Module) -> torch.Tensor:
    return module.weight_orig if is_pruned(module) else module.weight


def default_loss(model: nn.Module, batch) -> torch.Tensor:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise ValueError("data: the default loss needs (inputs, targets) batches; "
                         "pass PruneConfig(loss_fn=lambda model, batch: ...) for other batch layouts")
    x, y = batch
    device = next(model.parameters()).device
    return F.cross_entropy(model(x.to(device)), y.to(device))


def _accumulate_grad_scores(model: nn.Module, layers: Layers, data: Iterable, loss_fn: Callable,
                            num_batches: Optional[int], taylor: bool) -> Dict[str, torch.Tensor]:
    if data is None:
        raise ValueError("data: method='gradient'/'taylor' scores weights by dL/dw and needs data "
                         "(an iterable of batches, e.g. a DataLoader)")
    scores = {name: torch.zeros_like(_param(m), dtype=torch.float32) for name, m in layers}
    # Differentiate w.r.t. the stored Parameters: that covers modules called more than once, and at
    # masked positions the gradient is zero, which is fine because callers rank those weights last.
    params = [_param(m) for _, m in layers]
    saved_flags = [p.requires_grad for p in params]
    was_training = model.training
    # eval(): scoring must not move BatchNorm running stats or depend on dropout draws.
    model.eval()
    seen = 0
    try:
        for p in params:
            p.requires_grad_(True)  # frozen layers can still be scored; restored below
        with torch.enable_grad():
            for batch in data:
                if num_batches is not None and seen >= num_batches:
                    break
                loss = loss_fn(model, batch)
                if not (torch.is_tensor(loss) and loss.dim() == 0):
                    raise ValueError("loss_fn: must return a scalar tensor")
                # autograd.grad leaves the user's .grad buffers untouched.
                if not loss.requires_grad:
                    raise ValueError("loss_fn: the loss does not depend on the pruned weights "
                                     "(computed under torch.no_grad() or detached?)")
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                for (name, m), g in zip(layers, grads):
                    if g is not None:
                        scores[name] += (g * masked_weight(m).detach()).abs().float() if taylor else g.abs().float()
                seen += 1
    finally:
        for p, flag in zip(params, saved_flags):
            p.requires_grad_(flag)
        model.train(was_training)
    if seen == 0:
        raise ValueError("data: yielded no batches; gradient/taylor scores need at least one")
    return {name: s / seen for name, s in scores.items()}


@torch.no_grad()
def _random_scores(layers: Layers, seed: int) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {name: torch.rand(_param(m).shape, generator=g).to(_param(m).device) for name, m in layers}


def weight_scores(model: nn.Module, layers: Layers, method: str, data: Optional[Iterable] = None,
                  loss_fn: Optional[Callable] = None, num_batches: Optional[int] = None,
                  seed: int = 0) -> Dict[str, torch.Tensor]:
    """Score every weight of every layer (float32, weight-shaped)."""
    if method == "magnitude":
        with torch.no_grad():
            return {name: masked_weight(m).detach().abs().float() for name, m in layers}
    if method == "random":
        return _random_scores(layers, seed)
    if method in ("gradient", "taylor"):
        return _accumulate_grad_scores(model, layers, data, loss_fn or default_loss, num_batches,
                                       taylor=method == "taylor")
    raise ValueError(f"method: unknown {method!r}")


def channel_scores(score: torch.Tensor, norm: str) -> torch.Tensor:
    """Reduce a weight-shaped score to one value per output channel (dim 0) by an L1 or L2 norm."""
    flat = score.reshape(score.shape[0], -1)
    if norm == "l1":
        return flat.abs().sum(1)
    if norm == "l2":
        return flat.pow(2).sum(1).sqrt()
    raise ValueError(f"channel_norm: unknown {norm!r}")
