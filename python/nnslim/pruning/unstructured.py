"""Unstructured masks from scores: prune the lowest-scoring weights, per layer or across layers."""
from __future__ import annotations

from typing import Dict, List, Optional

import torch

__all__ = ["unstructured_masks"]


def _lowest_k_mask(scores: List[torch.Tensor], k: int) -> List[torch.Tensor]:
    flat = torch.cat([s.reshape(-1) for s in scores])
    mask = torch.ones_like(flat)
    if k > 0:
        # A stable sort prunes exactly k weights even among ties (an all-zero layer), deterministically.
        mask[torch.argsort(flat, stable=True)[:k]] = 0.0
    return list(torch.split(mask, [s.numel() for s in scores]))


@torch.no_grad()
def unstructured_masks(scores: Dict[str, torch.Tensor], targets: Dict[str, Optional[float]],
                       global_sparsity: float, scope: str) -> Dict[str, torch.Tensor]:
    """{name: {0, 1} mask} pruning ``round(sparsity * numel)`` weights per group.

    Scores of already-pruned weights should be -inf so they are counted first; ``targets[name]`` is a
    per-layer sparsity or None (the global pool under scope="global", else ``global_sparsity``).
    """
    masks: Dict[str, torch.Tensor] = {}
    pool = []
    for name, s in scores.items():
        if targets[name] is None and scope == "global":
            pool.append(name)
            continue
        frac = global_sparsity if targets[name] is None else targets[name]
        masks[name] = _lowest_k_mask([s], int(round(frac * s.numel())))[0].view_as(s)
    if pool:
        total = sum(scores[n].numel() for n in pool)
        parts = _lowest_k_mask([scores[n] for n in pool], int(round(global_sparsity * total)))
        for n, m in zip(pool, parts):
            masks[n] = m.view_as(scores[n])
    return masks
