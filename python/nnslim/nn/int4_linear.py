"""Int4Linear: a drop-in for nn.Linear with group-wise int4 weights (weight-only quantization)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from nnslim.nn._q4 import INT4_TABLE, INT4_ZERO_CODE, check_group_size, quantize_int4
from nnslim.nn._q4_linear import Q4LinearBase


class Int4Linear(Q4LinearBase):
    """``y = x @ dequant(W)^T + b`` with symmetric int4 weights in [-8, 7], one fp32 scale per
    ``group_size`` input columns of each output row, and activations quantized per row to int8 at
    run time. Built for memory-bound decode shapes (few rows): half the weight bytes of Int8Linear.

    Buffers (the portable form saved in state_dicts): ``weight_packed`` (out, ceil(in / 2)) uint8
    holding q + 8 per nibble (low nibble = even column), ``weight_scale`` (out, ceil(in / group_size))
    float32 (signed, see ``nnslim.nn._q4.quantize_int4``), ``bias`` (out,) float32 or absent.
    in_features need not be a multiple of group_size: the last group covers the remaining columns.
    """

    TABLE = INT4_TABLE
    ZERO_CODE = INT4_ZERO_CODE

    def __init__(self, in_features: int, out_features: int, bias: bool = True, group_size: int = 128):
        self.group_size = check_group_size(group_size)
        super().__init__(in_features, out_features, bias, (out_features, math.ceil(in_features / group_size)))

    def init_kwargs(self) -> dict:
        return dict(in_features=self.in_features, out_features=self.out_features, bias=self.bias is not None,
                    group_size=self.group_size)

    @classmethod
    def from_float(cls, linear: nn.Linear, config=None) -> "Int4Linear":
        """``config``: an ``Int4WeightConfig`` (default: group_size=128, MSE scale search)."""
        from nnslim.quantization.config import Int4WeightConfig  # here: nnslim.quantization imports nnslim.nn

        if not isinstance(linear, nn.Linear):
            raise TypeError(f"Int4Linear.from_float expects an nn.Linear, got {type(linear).__name__}")
        if config is None:
            config = Int4WeightConfig()
        if not isinstance(config, Int4WeightConfig):
            raise TypeError(f"config: expected an Int4WeightConfig, got {type(config).__name__}")
        mod = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, group_size=config.group_size)
        codes, scales = quantize_int4(linear.weight, config.group_size, config.mse_search)
        mod._set_weights(codes, scales, linear.bias)
        mod.pack()
        return mod

    def kernel_group_size(self) -> int:
        return self.group_size

    def kernel_scales(self) -> torch.Tensor:
        return self.weight_scale.detach().cpu().float().contiguous()

    def _format_repr(self) -> str:
        return (f"bits=4 (weights int4 [-8, 7], group_size={self.group_size}, fp32 group scales; "
                "activations dynamic per-row int8)")
