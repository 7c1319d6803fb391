"""int8 dynamic quantization: nn.Linear -> Int8Linear, nn.MultiheadAttention -> Int8MultiheadAttention,
nn.Embedding -> Int8Embedding."""
from __future__ import annotations

import torch.nn as nn

from nnslim.nn.int8_linear import Int8Linear
from nnslim.nn.int8_multihead_attention import Int8MultiheadAttention
from nnslim.quantization.config import Int8DynamicConfig
from nnslim.quantization.registry import register_preset, register_quantize_handler


@register_quantize_handler(Int8DynamicConfig)
def _int8_dynamic(module: nn.Module, config: Int8DynamicConfig, fqn: str, context: dict):
    if type(module) is nn.Linear:
        return Int8Linear.from_float(module, config)
    if type(module) is nn.MultiheadAttention:
        return Int8MultiheadAttention.from_float(module, config)
    from nnslim.quantization.weight_only import embedding_to_int8

    return embedding_to_int8(module)


register_preset("int8_dynamic", Int8DynamicConfig)
