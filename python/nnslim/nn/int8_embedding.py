"""Int8Embedding: a drop-in for nn.Embedding with int8 rows and one fp32 scale per row. Lookups only
touch the rows they need, so dequantizing on the fly costs little while the table shrinks 4x (often
the largest tensor of a transformer)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from nnslim.nn._common import per_channel_symmetric_int8
from nnslim.nn._weight_view import FloatWeightMixin


class Int8Embedding(FloatWeightMixin, nn.Module):
    """Buffers: ``weight_int8`` (num_embeddings, dim) int8, ``weight_scale`` (num_embeddings,) float32."""

    bits = 8

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None):
        super().__init__()
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(f"num_embeddings and embedding_dim must be positive, got {num_embeddings}, {embedding_dim}")
        self.num_embeddings, self.embedding_dim, self.padding_idx = int(num_embeddings), int(embedding_dim), padding_idx
        self.register_buffer("weight_int8", torch.zeros(num_embeddings, embedding_dim, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(num_embeddings))

    def init_kwargs(self) -> dict:
        return dict(num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim, padding_idx=self.padding_idx)

    @classmethod
    def from_float(cls, emb: nn.Embedding, config=None) -> "Int8Embedding":
        if not isinstance(emb, nn.Embedding):
            raise TypeError(f"Int8Embedding.from_float expects an nn.Embedding, got {type(emb).__name__}")
        if emb.max_norm is not None or emb.sparse:
            raise ValueError("Int8Embedding: max_norm renormalisation and sparse gradients are not supported")
        mod = cls(emb.num_embeddings, emb.embedding_dim, emb.padding_idx)
        q, scale = per_channel_symmetric_int8(emb.weight)
        mod.weight_int8.copy_(q)
        mod.weight_scale.copy_(scale)
        return mod.to(emb.weight.device)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"Int8Embedding: expected an int64/int32 index tensor, got "
                            f"{getattr(ids, 'dtype', type(ids).__name__)}")
        rows = F.embedding(ids, self.weight_int8)  # gathers int8 rows only
        # In the scales' dtype: float32, or what model.half() / .to(dtype) made them (as nn.Embedding's
        # output follows its weight).
        return rows.to(self.weight_scale.dtype) * F.embedding(ids, self.weight_scale[:, None])

    def dequantized_weight(self) -> torch.Tensor:
        return self.weight_int8.float() * self.weight_scale[:, None]

    def _float_weight_shape(self):
        return (self.num_embeddings, self.embedding_dim)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, bits=8 (per-row scales), padding_idx={self.padding_idx}"
