"""Which layers a config touches, and each one's target sparsity."""
from __future__ import annotations

import fnmatch
import warnings
from typing import Callable, Dict, List, Optional, Tuple

import torch.nn as nn

from nnslim.pruning.config import PruneConfig
from nnslim.pruning.masks import is_pruned

__all__ = ["PRUNABLE_TYPES", "select_layers", "layer_targets"]

PRUNABLE_TYPES = (nn.Linear, nn.Conv2d)
Layers = List[Tuple[str, nn.Module]]


def _matches(pattern: str, name: str) -> bool:
    return pattern == name or fnmatch.fnmatchcase(name, pattern)


def select_layers(model: nn.Module, config: PruneConfig,
                  filter_fn: Optional[Callable[[nn.Module, str], bool]] = None) -> Tuple[Layers, Layers]:
    """(layers to prune, candidates before ``skip``) in registration order.

    ``filter_fn(module, fqn)`` narrows the Linear/Conv2d candidates first; ``skip`` then removes
    names, globs and the "@first"/"@last" markers (resolved among the candidates).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if filter_fn is not None and not callable(filter_fn):
        raise ValueError(f"filter_fn: expected a callable filter_fn(module, name) -> bool, got {filter_fn!r}")
    candidates = [(n, m) for n, m in model.named_modules()
                  if isinstance(m, PRUNABLE_TYPES) and (filter_fn is None or filter_fn(m, n))]
    skipped = set()
    for pattern in config.skip:
        if pattern in ("@first", "@last"):
            hit = candidates[:1] if pattern == "@first" else candidates[-1:]
        else:
            hit = [(n, m) for n, m in candidates if _matches(pattern, n)]
        if not hit:
            warnings.warn(f"skip: pattern {pattern!r} matches no prunable layer", UserWarning, stacklevel=3)
        skipped.update(n for n, _ in hit)
    layers = [(n, m) for n, m in candidates if n not in skipped]
    for name, m in layers:
        if not is_pruned(m) and not isinstance(m._parameters.get("weight"), nn.Parameter):
            # weight_norm / spectral_norm / parametrize make .weight computed; masking it would fight them.
            raise ValueError(f"model: layer {name!r} has a computed weight ({type(m).__name__} with a "
                             "parametrization or hook), not a plain Parameter; add it to skip")
    if not layers:
        raise ValueError("model: no prunable layers (nn.Linear / nn.Conv2d) left after filter_fn and skip")
    return layers, candidates


def layer_targets(layers: Layers, candidates: Layers, config: PruneConfig) -> Dict[str, Optional[float]]:
    """{name: per-layer sparsity override, or None for "use config.sparsity / the global pool"}."""
    names = [n for n, _ in candidates]
    for pattern, _ in config.per_layer:
        if not any(_matches(pattern, n) for n in names):
            # A per_layer entry that silently applies to nothing is almost always a typo.
            raise ValueError(f"per_layer: pattern {pattern!r} matches no prunable layer; layers are {names}")
    targets: Dict[str, Optional[float]] = {}
    exact = dict(config.per_layer)
    for name, _ in layers:
        if name in exact:
            targets[name] = exact[name]
            continue
        targets[name] = next((s for p, s in config.per_layer if _matches(p, name)), None)
    return targets
