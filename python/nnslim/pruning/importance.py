"""Per-weight importance scores: higher means keep."""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize

__all__ = ["weight_scores", "channel_scores", "default_loss"]

Layers = List[Tuple[str, nn.Module]]


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
    scores = {name: torch.zeros_like(m.weight, dtype=torch.float32) for name, m in layers}
    # Enable grads only where needed and restore after; frozen layers can still be scored.
    params = [m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
              for _, m in layers]
    saved_flags = [p.requires_grad for p in params]
    was_training = model.training
    # eval(): scoring must not move BatchNorm running stats or depend on dropout draws.
    model.eval()
    seen = 0
    try:
        for p in params:
            p.requires_grad_(True)
        with torch.enable_grad():
            for batch in data:
                if num_batches is not None and seen >= num_batches:
                    break
                # cached(): module.weight is computed once per batch, so the tensor we differentiate
                # with respect to is the one the forward actually used (masked weights included).
                with parametrize.cached():
                    weights = [m.weight for _, m in layers]
                    loss = loss_fn(model, batch)
                    if not (torch.is_tensor(loss) and loss.dim() == 0):
                        raise ValueError("loss_fn: must return a scalar tensor")
                    # autograd.grad leaves the user's .grad buffers untouched.
                    grads = torch.autograd.grad(loss, weights, allow_unused=True)
                for (name, _), w, g in zip(layers, weights, grads):
                    if g is not None:
                        scores[name] += (g * w.detach()).abs().float() if taylor else g.abs().float()
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
    return {name: torch.rand(m.weight.shape, generator=g).to(m.weight.device) for name, m in layers}


def weight_scores(model: nn.Module, layers: Layers, method: str, data: Optional[Iterable] = None,
                  loss_fn: Optional[Callable] = None, num_batches: Optional[int] = None,
                  seed: int = 0) -> Dict[str, torch.Tensor]:
    """Score every weight of every layer (float32, weight-shaped)."""
    if method == "magnitude":
        with torch.no_grad():
            return {name: m.weight.detach().abs().float() for name, m in layers}
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
