"""N:M semi-structured masks: in every group of M consecutive weights along the input dimension,
keep exactly the N with the highest score (2:4 is what sparse tensor cores accelerate).

"Input dimension" is weight dim 1: the in-features of a Linear, the in-channels of a Conv2d (groups
run across channels at each kernel position, NVIDIA ASP's layout for convolutions).
"""
from __future__ import annotations

import torch

__all__ = ["nm_mask", "is_nm_sparse", "check_divisible"]


def check_divisible(shape, m: int, name: str, n: int) -> None:
    if len(shape) < 2 or shape[1] % m != 0:
        dim = shape[1] if len(shape) >= 2 else None
        raise ValueError(f"pattern '{n}:{m}': layer {name!r} has input dimension {dim} (weight dim 1), "
                         f"not divisible by M={m}; add it to PruneConfig.skip")


def _groups(t: torch.Tensor, m: int) -> torch.Tensor:
    # (out, in, *k) -> (out, *k, in) -> (-1, m): each row one group of m consecutive inputs.
    return t.movedim(1, -1).reshape(-1, m)


@torch.no_grad()
def nm_mask(score: torch.Tensor, n: int, m: int, name: str = "?") -> torch.Tensor:
    """{0, 1} float mask, score-shaped, keeping the top-``n`` scores of each group of ``m``."""
    check_divisible(score.shape, m, name, n)
    groups = _groups(score, m)
    keep = groups.topk(n, dim=1).indices
    mask = torch.zeros_like(groups).scatter_(1, keep, 1.0)
    moved = score.movedim(1, -1).shape
    return mask.reshape(moved).movedim(-1, 1).contiguous()


@torch.no_grad()
def is_nm_sparse(weight: torch.Tensor, n: int, m: int) -> bool:
    """True when every group of ``m`` along dim 1 has at most ``n`` nonzeros."""
    if weight.dim() < 2 or weight.shape[1] % m != 0:
        return False
    return bool(((_groups(weight, m) != 0).sum(1) <= n).all())
