"""4-bit weight formats shared by Int4Linear and Log2Linear: the code tables, nibble packing and the
two weight quantizers. Every 4-bit code indexes a 16-entry int8 table; the kernels compute exact
int32 group sums of ``int8 activation * table[code]`` and apply fp32 scales per group.

Portable layout (what state_dicts hold): ``codes`` (out, ceil(in / 2)) uint8, low nibble = even
input column, high nibble = odd column; an odd in_features leaves the last high nibble as the
format's zero code.
"""
from __future__ import annotations

import math
import operator
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F

SUPPORTED_GROUP_SIZES = (32, 64, 128)

# Linear int4: code = q + 8 for q in [-8, 7]; code 8 is zero.
INT4_TABLE = np.arange(-8, 8, dtype=np.int8)
INT4_ZERO_CODE = 8

# Power of two: code = sign << 3 | e, value = (-1)^sign * 2^-e for e in 0..6, and e = 7 is zero
# (both signs). The int8 table holds value * 64 so every level is an exact integer.
LOG2_EXPONENTS = 7
LOG2_UNIT = 64
LOG2_TABLE = np.array([64 >> e for e in range(LOG2_EXPONENTS)] + [0] +
                      [-(64 >> e) for e in range(LOG2_EXPONENTS)] + [0], dtype=np.int8)
LOG2_ZERO_CODE = 7


def check_group_size(group_size) -> int:
    try:
        g = operator.index(group_size)  # ints and numpy integers, not floats or bools
    except TypeError:
        g = None
    if isinstance(group_size, bool) or g not in SUPPORTED_GROUP_SIZES:
        raise ValueError(f"group_size: expected one of {SUPPORTED_GROUP_SIZES}, got {group_size!r}")
    return g


def check_weight(weight: torch.Tensor) -> torch.Tensor:
    w = weight.detach().float().cpu()
    if w.dim() != 2:
        raise ValueError(f"weight: expected a 2-D (out_features, in_features) tensor, got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise ValueError("weight contains NaN or Inf; cannot quantize it")
    return w


def pack_nibbles(codes: torch.Tensor, zero_code: int) -> torch.Tensor:
    """(N, K) codes in [0, 15] -> (N, ceil(K / 2)) uint8."""
    c = codes.to(torch.uint8)
    if c.shape[1] % 2:
        c = F.pad(c, (0, 1), value=zero_code)
    return (c[:, 0::2] | (c[:, 1::2] << 4)).contiguous()


def unpack_nibbles(packed: torch.Tensor, in_features: int) -> torch.Tensor:
    """(N, ceil(K / 2)) uint8 -> (N, K) int64 codes."""
    p = packed.to(torch.int64)
    return torch.stack([p & 0xF, p >> 4], dim=-1).reshape(p.shape[0], -1)[:, :in_features]


def decode(packed: torch.Tensor, in_features: int, table: np.ndarray) -> torch.Tensor:
    """Table values (float, integer-valued) of every code."""
    return torch.from_numpy(table.astype(np.float32))[unpack_nibbles(packed, in_features)]


def quantize_int4(weight: torch.Tensor, group_size: int, mse_search: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """Symmetric group-wise int4: (codes (N, ceil(K / 2)) uint8, scales (N, ceil(K / group)) float32).

    Each group's scale is d = -m / 8 where m is its largest-magnitude weight, so m lands exactly on
    -8, the long end of [-8, 7] (all 16 levels used; d carries m's sign, so scales can be negative).
    ``mse_search`` then tries 16 shrunken scales t * d, t in [0.7, 1], and keeps the one with the
    smallest squared error: clipping a few outliers buys finer steps for the rest. A last partial
    group covers only the remaining columns (as if zero-padded).
    """
    w = check_weight(weight)
    N, K = w.shape
    G = math.ceil(K / group_size)
    wg = F.pad(w, (0, G * group_size - K)).reshape(N, G, group_size)
    m = wg.gather(-1, wg.abs().argmax(-1, keepdim=True))
    base = torch.where(m == 0, torch.ones_like(m), m / -8.0)
    best_d, best_err = None, None
    for t in (torch.linspace(1.0, 0.7, 16).tolist() if mse_search else [1.0]):
        d = base * t
        err = (torch.clamp(torch.round(wg / d), -8, 7) * d - wg).square().sum(-1, keepdim=True)
        if best_d is None:
            best_d, best_err = d, err
        else:
            better = err < best_err
            best_d, best_err = torch.where(better, d, best_d), torch.where(better, err, best_err)
    q = torch.clamp(torch.round(wg / best_d), -8, 7).reshape(N, G * group_size)[:, :K]
    codes = (q + INT4_ZERO_CODE).to(torch.uint8)
    return pack_nibbles(codes, INT4_ZERO_CODE), best_d.reshape(N, G).float().contiguous()


def quantize_log2(weight: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Power-of-two weights: (codes (N, ceil(K / 2)) uint8, scales (N,) float32).

    Per output channel, scale = max |w| (that weight is exact), and each weight becomes
    sign * 2^-e with e = round(log2(scale / |w|)), i.e. rounded to the nearest power of two in the
    log domain (the midpoint between 2^-e and 2^-e-1 is their geometric mean). e >= 7 (|w| below
    scale * 2^-6.5) and exact zeros become the zero code.
    """
    w = check_weight(weight)
    amax = w.abs().amax(dim=1, keepdim=True)
    scale = torch.where(amax > 0, amax, torch.ones_like(amax))
    r = w.abs() / scale
    e = torch.round(-torch.log2(r)).clamp(min=0)  # r = 0 -> +inf -> zero code
    zero = ~(e < LOG2_EXPONENTS)
    codes = torch.where(zero, torch.full_like(e, LOG2_ZERO_CODE), e).to(torch.uint8)
    codes = torch.where(zero | (w >= 0), codes, codes | 8)
    return pack_nibbles(codes, LOG2_ZERO_CODE), scale.reshape(-1).float().contiguous()
