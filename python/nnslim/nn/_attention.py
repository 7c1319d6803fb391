"""The attention core of nn.MultiheadAttention after its input projections, for drop-ins that run the
projections on their own kernels (Int8MultiheadAttention).

torch's ``F.multi_head_attention_forward`` computes its projections with ``F.linear`` inside, so a
drop-in cannot reuse it; this module repeats its steps after the projections, in its order, with the
same mask rules and the same errors: masks become additive float masks (a bool ``True`` means "may not
attend"), ``bias_k`` / ``bias_v`` and ``add_zero_attn`` append one key / value each and pad the masks,
and the softmax runs in the projections' output dtype.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F


def additive_mask(mask: Optional[torch.Tensor], dtype: torch.dtype) -> Optional[torch.Tensor]:
    """A bool or float mask (check_inputs checked which) -> a float mask added to the scores (bool
    True -> -inf), as torch's ``_canonical_mask``."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros_like(mask, dtype=dtype).masked_fill_(mask, float("-inf"))
    return mask.to(dtype)


def check_inputs(query, key, value, key_padding_mask, attn_mask, num_heads: int, embed_dim: int,
                 batch_first: bool = False) -> bool:
    """Shape checks of nn.MultiheadAttention's forward (as torch's ``_mha_shape_check``, with each
    message naming the argument); returns whether the inputs are batched."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name}: expected a floating-point tensor, got dtype {t.dtype}")
    if query.dim() not in (2, 3):
        raise ValueError(f"query: expected a 2-D (unbatched) or 3-D (batched) tensor, got shape {tuple(query.shape)}")
    batched = query.dim() == 3
    for name, t in (("key", key), ("value", value)):
        if t.dim() != query.dim():
            raise ValueError(f"{name}: expected {query.dim()}-D like query (shape {tuple(query.shape)}), "
                             f"got shape {tuple(t.shape)}")
    if query.shape[-1] != embed_dim:
        raise ValueError(f"query: expected embedding size {embed_dim} in its last dimension, got shape "
                         f"{tuple(query.shape)}")
    if key.shape[:-1] != value.shape[:-1]:
        raise ValueError(f"key and value: expected the same sequence (and batch) sizes, got shapes "
                         f"{tuple(key.shape)} and {tuple(value.shape)}")
    if batched:
        b = 0 if batch_first else 1
        if key.shape[b] != query.shape[b]:
            raise ValueError(f"key: expected batch size {query.shape[b]} like query (dimension {b}, "
                             f"batch_first={batch_first}), got shape {tuple(key.shape)}")
    for name, mask in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
        if mask is not None and not isinstance(mask, torch.Tensor):
            raise TypeError(f"{name}: expected a bool or floating-point tensor, got {type(mask).__name__}")
        if mask is not None and mask.dtype != torch.bool and not mask.is_floating_point():
            raise TypeError(f"{name}: expected a bool or floating-point tensor, got dtype {mask.dtype}")
    if key_padding_mask is not None and key_padding_mask.dim() != (2 if batched else 1):
        raise ValueError(f"key_padding_mask: expected a {2 if batched else 1}-D tensor for "
                         f"{'batched' if batched else 'unbatched'} inputs, got shape {tuple(key_padding_mask.shape)}")
    if attn_mask is not None and attn_mask.dim() not in (2, 3):
        raise ValueError(f"attn_mask: expected a 2-D or 3-D tensor, got shape {tuple(attn_mask.shape)}")
    if attn_mask is not None and not batched and attn_mask.dim() == 3 and attn_mask.shape[0] != num_heads:
        raise ValueError(f"attn_mask: a 3-D mask of unbatched inputs must be ({num_heads}, L, S), got shape "
                         f"{tuple(attn_mask.shape)}")
    return batched


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int,
           key_padding_mask: Optional[torch.Tensor], attn_mask: Optional[torch.Tensor], need_weights: bool,
           average_attn_weights: bool, is_causal: bool, bias_k: Optional[torch.Tensor],
           bias_v: Optional[torch.Tensor], add_zero_attn: bool, dropout_p: float, batched: bool = True
           ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Projected ``q`` (N, L, E), ``k`` / ``v`` (N, S, E), batch first -> the attention output (N, L,
    E) before the output projection, and the weights (N, L, S), or (N, H, L, S) with
    ``average_attn_weights=False``, when ``need_weights``."""
    n, tgt_len, embed_dim = q.shape
    head_dim = embed_dim // num_heads
    dtype = q.dtype
    key_padding_mask = additive_mask(key_padding_mask, dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("attn_mask: needed when is_causal=True (as nn.MultiheadAttention; "
                           "nn.Transformer.generate_square_subsequent_mask makes one)")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint stands for the mask: SDPA's causal path
    else:
        attn_mask = additive_mask(attn_mask, dtype)
        if key_padding_mask is not None:
            is_causal = False
    src_len = k.shape[1]
    if attn_mask is not None:
        want = (tgt_len, src_len) if attn_mask.dim() == 2 else (n * num_heads, tgt_len, src_len)
        if tuple(attn_mask.shape) != want:
            raise ValueError(f"attn_mask: expected shape {want} (or the other of (L, S) / (N * num_heads, L, S)), "
                             f"got {tuple(attn_mask.shape)}")
        # -> 4-D, broadcast over (batch, heads): (1, 1, L, S) or (N, H, L, S)
        attn_mask = attn_mask.reshape(1, 1, tgt_len, src_len) if attn_mask.dim() == 2 else \
            attn_mask.reshape(n, num_heads, tgt_len, src_len)
    if bias_k is not None:
        k = torch.cat([k, bias_k.to(k.dtype).reshape(1, 1, embed_dim).expand(n, 1, embed_dim)], dim=1)
        v = torch.cat([v, bias_v.to(v.dtype).reshape(1, 1, embed_dim).expand(n, 1, embed_dim)], dim=1)
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    # (N, seq, E) -> (N, H, seq, D)
    q = q.reshape(n, tgt_len, num_heads, head_dim).transpose(1, 2)
    k = k.reshape(n, k.shape[1], num_heads, head_dim).transpose(1, 2)
    v = v.reshape(n, v.shape[1], num_heads, head_dim).transpose(1, 2)
    if add_zero_attn:
        zeros = torch.zeros(n, num_heads, 1, head_dim, dtype=k.dtype, device=k.device)
        k, v = torch.cat([k, zeros], dim=2), torch.cat([v, zeros], dim=2)
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    src_len = k.shape[2]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (n, src_len):
            given = src_len - int(bias_k is not None) - int(add_zero_attn)
            shape = tuple(key_padding_mask.shape)
            raise ValueError(f"key_padding_mask: expected shape {(n, given)} (batch, source length), or ({given},) "
                             f"for unbatched inputs, got {shape if batched else shape[1:]}")
        kpm = key_padding_mask.reshape(n, 1, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if need_weights:
        scores = torch.matmul(q * math.sqrt(1.0 / head_dim), k.transpose(-2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = torch.softmax(scores, dim=-1)
        if dropout_p > 0.0:
            weights = F.dropout(weights, p=dropout_p)
        out = torch.matmul(weights, v)
        weights = weights.mean(dim=1) if average_attn_weights else weights
    else:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p,
                                             is_causal=is_causal and attn_mask is None)
        weights = None
    return out.transpose(1, 2).reshape(n, tgt_len, embed_dim), weights
