"""Block patterns "RxC": prune whole blocks of R consecutive output rows by C consecutive inputs of
the weight, viewed as (out, in * kh * kw) (a conv weight row-major over in, kh, kw).

Blocks are what sparse kernels need to reuse a load: with "4x1" the four rows of a block share each
activation they read. Layers whose sizes are not multiples of the block get ragged edge blocks,
scored by their mean so that a partial block is neither favoured nor penalised for its size.
"""
from __future__ import annotations

import re
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = ["parse_block", "block_scores", "expand_blocks", "block_density"]

_BLOCK = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")


def parse_block(pattern) -> Optional[Tuple[int, int]]:
    """``"4x1"`` -> ``(4, 1)``; None for other patterns."""
    m = _BLOCK.match(pattern) if isinstance(pattern, str) else None
    if m is None:
        return None
    r, c = int(m.group(1)), int(m.group(2))
    if r < 1 or c < 1 or r * c < 2 or r > 256 or c > 256:
        raise ValueError(f"pattern {pattern!r}: a block 'RxC' needs 1 <= R, C <= 256 and more than one weight")
    return r, c


def _as_2d(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


def _padded(t2: torch.Tensor, r: int, c: int, value: float = 0.0) -> torch.Tensor:
    rows, cols = t2.shape
    return F.pad(t2, (0, (-cols) % c, 0, (-rows) % r), value=value)


@torch.no_grad()
def block_scores(score: torch.Tensor, r: int, c: int, norm: str = "l1") -> torch.Tensor:
    """(ceil(out / r), ceil(in / c)) block scores: mean |s| (l1) or root-mean-square (l2) over each block's
    weights; -inf where any weight of the block scores -inf (already pruned: it is counted first)."""
    s2 = _as_2d(score.float())
    ones = _padded(torch.ones_like(s2), r, c)
    dead = _padded(torch.isneginf(s2).float(), r, c)
    vals = _padded(torch.where(torch.isneginf(s2), torch.zeros_like(s2), s2.abs() if norm == "l1" else s2 * s2), r, c)
    nr, nc = vals.shape[0] // r, vals.shape[1] // c

    def blocks(t):
        return t.reshape(nr, r, nc, c).sum((1, 3))

    mean = blocks(vals) / blocks(ones)
    out = mean if norm == "l1" else mean.sqrt()
    return out.masked_fill(blocks(dead) > 0, float("-inf"))


def expand_blocks(block_mask: torch.Tensor, shape, r: int, c: int) -> torch.Tensor:
    """A (blocks) mask to a weight-shaped {0, 1} mask."""
    rows = shape[0]
    cols = 1
    for d in shape[1:]:
        cols *= d
    full = block_mask.repeat_interleave(r, 0).repeat_interleave(c, 1)[:rows, :cols]
    return full.reshape(shape).contiguous()


def block_density(weight: torch.Tensor, r: int, c: int) -> float:
    """Fraction of RxC blocks holding at least one nonzero."""
    nz = _padded((_as_2d(weight) != 0).float(), r, c)
    nr, nc = nz.shape[0] // r, nz.shape[1] // c
    return float((nz.reshape(nr, r, nc, c).sum((1, 3)) > 0).float().mean())
