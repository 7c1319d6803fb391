"""Int8MultiheadAttention: a drop-in for nn.MultiheadAttention whose four projections run on nnslim's
int8 GEMM.

In a vision transformer the attention block's projections are a third of the linear work, but
nn.MultiheadAttention keeps them out of reach of a Linear -> Int8Linear swap: its input projection is
a bare ``in_proj_weight`` parameter and its forward reads ``out_proj.weight`` itself (torch.ao's
dynamic quantization leaves the whole block in fp32 for that reason). This drop-in holds ``q_proj``,
``k_proj``, ``v_proj`` and ``out_proj`` as Int8Linear layers (per-channel int8 weights, activations
quantized per row at run time: the block's inputs differ per call in cross-attention, and a row scale
costs a pass over a row the GEMM reads anyway) and runs the attention itself (scores, masks,
softmax) in floating point, as torch does (nn/_attention.py).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn

from nnslim.nn._attention import attend, check_inputs
from nnslim.nn._common import Float32BuffersMixin
from nnslim.nn._weight_view import WeightView
from nnslim.nn.int8_linear import Int8Linear


def _linear_of(weight: torch.Tensor, bias: Optional[torch.Tensor]) -> nn.Linear:
    """A temporary nn.Linear holding ``weight`` / ``bias`` (what Int8Linear.from_float reads)."""
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
    lin.weight = nn.Parameter(weight.detach(), requires_grad=False)
    if bias is not None:
        lin.bias = nn.Parameter(bias.detach(), requires_grad=False)
    return lin


class Int8MultiheadAttention(Float32BuffersMixin, nn.Module):
    """``nn.MultiheadAttention`` with int8 projections: the same constructor arguments, the same
    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returning ``(output, weights or None)``, the same
    masks, ``batch_first``, unbatched inputs, ``kdim`` / ``vdim``, ``add_bias_kv`` and
    ``add_zero_attn``. Inference only. ``in_proj_weight`` (and ``q_proj_weight`` ... when the key /
    value sizes differ) and ``out_proj.weight`` read as read-only views of the dequantized weights, so
    code that inspects them (nn.TransformerEncoderLayer's fast-path checks) keeps working."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: Optional[int] = None,
                 vdim: Optional[int] = None, batch_first: bool = False, activation_bits: int = 8):
        super().__init__()
        if not isinstance(embed_dim, int) or embed_dim <= 0:
            raise ValueError(f"embed_dim: expected a positive int, got {embed_dim!r}")
        if not isinstance(num_heads, int) or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"num_heads: expected a positive int dividing embed_dim={embed_dim}, got {num_heads!r}")
        if not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1], got {dropout!r}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.kdim = embed_dim if kdim is None else int(kdim)
        self.vdim = embed_dim if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.batch_first = bool(batch_first)
        self.add_zero_attn = bool(add_zero_attn)
        bits = dict(activation_bits=activation_bits)  # checked by Int8Linear
        self.q_proj = Int8Linear(embed_dim, embed_dim, bias=bias, **bits)
        self.k_proj = Int8Linear(self.kdim, embed_dim, bias=bias, **bits)
        self.v_proj = Int8Linear(self.vdim, embed_dim, bias=bias, **bits)
        self.out_proj = Int8Linear(embed_dim, embed_dim, bias=bias, **bits)
        if add_bias_kv:
            self.register_buffer("bias_k", torch.zeros(1, 1, embed_dim))
            self.register_buffer("bias_v", torch.zeros(1, 1, embed_dim))
        else:
            self.bias_k = self.bias_v = None

    @classmethod
    def from_float(cls, mha: nn.MultiheadAttention, config=None) -> "Int8MultiheadAttention":
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(f"Int8MultiheadAttention.from_float expects an nn.MultiheadAttention, "
                            f"got {type(mha).__name__}")
        bias = mha.in_proj_bias is not None
        mod = cls(mha.embed_dim, mha.num_heads, dropout=mha.dropout, bias=bias,
                  add_bias_kv=mha.bias_k is not None, add_zero_attn=mha.add_zero_attn, kdim=mha.kdim,
                  vdim=mha.vdim, batch_first=mha.batch_first, activation_bits=getattr(config, "activation_bits", 8))
        e = mha.embed_dim
        if mha._qkv_same_embed_dim:
            weights = mha.in_proj_weight.chunk(3)
        else:
            weights = (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
        biases = mha.in_proj_bias.chunk(3) if bias else (None, None, None)
        for name, w, b in zip(("q_proj", "k_proj", "v_proj"), weights, biases):
            setattr(mod, name, Int8Linear.from_float(_linear_of(w, b), config))
        if (mha.out_proj.bias is not None) != bias:
            raise ValueError("mha: in_proj_bias and out_proj.bias must both exist or both be None (as "
                             "nn.MultiheadAttention(bias=...) makes them)")
        mod.out_proj = Int8Linear.from_float(_linear_of(mha.out_proj.weight, mha.out_proj.bias), config)
        if mha.bias_k is not None:
            mod.bias_k.copy_(mha.bias_k.detach().float().reshape(1, 1, e))
            mod.bias_v.copy_(mha.bias_v.detach().float().reshape(1, 1, e))
        return mod.train(mha.training)

    def init_kwargs(self) -> dict:
        return dict(embed_dim=self.embed_dim, num_heads=self.num_heads, dropout=self.dropout,
                    bias=self.q_proj.bias is not None, add_bias_kv=self.bias_k is not None,
                    add_zero_attn=self.add_zero_attn, kdim=self.kdim, vdim=self.vdim, batch_first=self.batch_first,
                    activation_bits=self.q_proj.activation_bits)

    # What nn.MultiheadAttention exposes and model code reads (read-only, dequantized on use).
    @property
    def in_proj_weight(self) -> Optional[WeightView]:
        if not self._qkv_same_embed_dim:
            return None
        parts = (self.q_proj, self.k_proj, self.v_proj)
        return WeightView((3 * self.embed_dim, self.embed_dim), self.q_proj.weight_int8.device,
                          lambda: torch.cat([p.dequantized_weight() for p in parts]))

    @property
    def in_proj_bias(self) -> Optional[torch.Tensor]:
        if self.q_proj.bias is None:
            return None
        return torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])

    def _separate_weight(self, proj: Int8Linear) -> Optional[WeightView]:
        return None if self._qkv_same_embed_dim else proj.weight

    q_proj_weight = property(lambda self: self._separate_weight(self.q_proj))
    k_proj_weight = property(lambda self: self._separate_weight(self.k_proj))
    v_proj_weight = property(lambda self: self._separate_weight(self.v_proj))

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: Optional[torch.Tensor] = None, need_weights: bool = True,
                attn_mask: Optional[torch.Tensor] = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        batched = check_inputs(query, key, value, key_padding_mask, attn_mask, self.num_heads, self.embed_dim,
                               self.batch_first)
        if key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"key / value: expected last dimensions kdim={self.kdim} / vdim={self.vdim}, got "
                             f"shapes {tuple(key.shape)} / {tuple(value.shape)}")
        # Projections are per token, so they run in the caller's layout; attend() wants batch first.
        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)
        if not batched:
            q, k, v = q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:
            q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
        out, weights = attend(q, k, v, self.num_heads, key_padding_mask, attn_mask, need_weights,
                              average_attn_weights, is_causal, self.bias_k, self.bias_v, self.add_zero_attn,
                              self.dropout if self.training else 0.0, batched)
        if batched and not self.batch_first:  # back to (L, N, E) before the projection: a contiguous
            out = out.transpose(0, 1)         # output, as torch's (callers .view() it)
        out = self.out_proj(out)
        if not batched:
            return out.squeeze(0), None if weights is None else weights.squeeze(0)
        return out, weights

    def extra_repr(self) -> str:
        kv = "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}{kv}, batch_first={self.batch_first}"
                f"{', add_bias_kv' if self.bias_k is not None else ''}{', add_zero_attn' if self.add_zero_attn else ''}"
                f", projections int8 (activations per row{', 7-bit' if self.q_proj.activation_bits == 7 else ''})"
                ", attention fp32")
