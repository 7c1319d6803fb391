"""Weight-only 4-bit quantization: nn.Linear -> Int4Linear ("int4_weight") or Log2Linear ("log2_weight");
nn.Embedding tables (often the largest tensor) -> Int8Embedding under both."""
from __future__ import annotations

import torch.nn as nn

from nnslim.nn.int4_linear import Int4Linear
from nnslim.nn.int8_embedding import Int8Embedding
from nnslim.nn.log2_linear import Log2Linear
from nnslim.quantization.config import Int4WeightConfig, Log2WeightConfig
from nnslim.quantization.registry import register_preset, register_quantize_handler


def embedding_to_int8(module: nn.Module):
    if type(module) is nn.Embedding and module.max_norm is None and not module.sparse:
        return Int8Embedding.from_float(module)
    return None


@register_quantize_handler(Int4WeightConfig)
def _int4_weight(module: nn.Module, config: Int4WeightConfig, fqn: str, context: dict):
    if type(module) is nn.Linear:
        return Int4Linear.from_float(module, config)
    return embedding_to_int8(module)


@register_quantize_handler(Log2WeightConfig)
def _log2_weight(module: nn.Module, config: Log2WeightConfig, fqn: str, context: dict):
    if type(module) is nn.Linear:
        return Log2Linear.from_float(module, config)
    return embedding_to_int8(module)


register_preset("int4_weight", Int4WeightConfig)
register_preset("log2_weight", Log2WeightConfig)
