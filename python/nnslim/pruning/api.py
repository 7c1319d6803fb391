"""``prune``: one-shot pruning of a model in place, and the step ``Pruner`` repeats."""
from __future__ import annotations

import warnings

from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence

import torch.nn as nn

from nnslim.pruning.blocks import block_scores, expand_blocks
from nnslim.pruning.config import PruneConfig
from nnslim.pruning.importance import weight_scores
from nnslim.pruning.masks import apply_mask, get_mask
from nnslim.pruning.nm import check_divisible, nm_mask
from nnslim.pruning.selection import layer_targets, select_layers
from nnslim.pruning.unstructured import unstructured_masks

__all__ = ["prune", "as_config"]

FilterFn = Callable[[nn.Module, str], bool]


def as_config(config: Any = None, **overrides) -> PruneConfig:
    """A PruneConfig from a PruneConfig, a dict (``from_dict``), or keyword fields."""
    if config is None:
        return PruneConfig(**overrides)
    if isinstance(config, PruneConfig):
        return config.replace(**overrides) if overrides else config
    if isinstance(config, Mapping):
        return PruneConfig.from_dict({**config, **overrides})
    raise ValueError(f"config: expected a PruneConfig, a dict or None, got {type(config).__name__}")


def prune(model: nn.Module, config: Any = None, data: Optional[Iterable] = None,
          filter_fn: Optional[FilterFn] = None, example_input: Any = None, leaf_modules: Sequence[type] = (),
          **overrides) -> nn.Module:
    """Prune ``model`` in place, once, and return it.

    ``prune(model, PruneConfig(sparsity=0.9))`` or ``prune(model, sparsity=0.9, scope="layer")``.
    Unstructured / N:M attach masks that stay enforced while you fine-tune (``remove_masks`` bakes
    them in); ``pattern="channel"`` removes coupled channels for real (build the optimizer after).
    ``data`` (an iterable of batches) is needed by method="gradient"/"taylor".

    Channel pruning reads the model as a graph: ``example_input`` (a tensor, a tuple of positional
    arguments or a dict of keyword arguments) lets it follow reshapes and is required by
    ``target="macs"`` and ``target_speedup``; ``leaf_modules`` are module types kept as single nodes.
    """
    config = as_config(config, **overrides)
    if not config.is_oneshot:
        raise ValueError("config.schedule: prune() prunes once; drive a gradual/iterative schedule with "
                         "Pruner(model, config).step() in your training loop")
    prune_step(model, config, data, filter_fn, example_input=example_input, leaf_modules=leaf_modules)
    return model


def prune_step(model: nn.Module, config: PruneConfig, data: Optional[Iterable] = None,
               filter_fn: Optional[FilterFn] = None,
               sparsity_of: Callable[[float], float] = lambda s: s, example_input: Any = None,
               leaf_modules: Sequence[type] = ()) -> Dict[str, Any]:
    """One pruning pass. ``sparsity_of`` maps each final target to the one applied now (schedules).

    Returns {layer: sparsity now} for masks, or {producer: (channels before, after)} for channels.
    """
    layers, candidates = select_layers(model, config, filter_fn)
    finals = layer_targets(layers, candidates, config)
    targets = {n: None if t is None else sparsity_of(t) for n, t in finals.items()}
    global_sparsity = sparsity_of(config.sparsity)
    # A layer asked for 0 that has never been pruned needs no mask (and no scoring pass).
    active = [(n, m) for n, m in layers
              if get_mask(m) is not None or (targets[n] if targets[n] is not None else global_sparsity) > 0]
    if not active:
        return {}
    if config.pattern == "channel":
        from nnslim.pruning.channel_prune import prune_channels

        return prune_channels(model, config, layers, candidates, targets, global_sparsity, data, example_input,
                              leaf_modules)
    nm = config.nm
    if nm is not None:  # check shapes before a possibly long scoring pass
        unfit = {}
        for name, m in active:
            try:
                check_divisible(tuple(m.weight.shape), nm[1], name, nm[0])
            except ValueError as exc:
                if config.strict:
                    raise ValueError(f"{exc} (or drop strict=True to skip such layers with a warning)") from None
                unfit[name] = m.weight.shape[1] if m.weight.dim() >= 2 else None
        if unfit:
            warnings.warn(f"pattern '{config.pattern}': skipped {len(unfit)} layer(s) whose input dimension is not "
                          f"divisible by M={nm[1]} (they stay dense): "
                          + ", ".join(f"{n!r} (input dimension {d})" for n, d in unfit.items()), stacklevel=3)
            active = [(n, m) for n, m in active if n not in unfit]
            if not active:
                return {}
    scores = weight_scores(model, active, config.method, data, config.loss_fn, config.num_batches, config.seed)
    for name, m in active:
        old = get_mask(m)
        if old is not None:
            # Pruned weights rank below everything, so they stay pruned and count toward the target.
            scores[name] = scores[name].masked_fill(old == 0, float("-inf"))
    block = config.block
    if nm is not None:
        masks = {name: nm_mask(scores[name], nm[0], nm[1], name) for name, _ in active}
    elif block is not None:
        r, c = block
        bscores = {name: block_scores(scores[name], r, c, config.channel_norm) for name, _ in active}
        bmasks = unstructured_masks(bscores, {n: targets[n] for n, _ in active}, global_sparsity, config.scope)
        masks = {name: expand_blocks(bmasks[name], scores[name].shape, r, c) for name, _ in active}
    else:
        masks = unstructured_masks(scores, {n: targets[n] for n, _ in active}, global_sparsity, config.scope)
    report = {}
    for name, m in active:
        apply_mask(m, masks[name])
        mask = get_mask(m)
        report[name] = 1.0 - float(mask.sum()) / mask.numel()
    return report
