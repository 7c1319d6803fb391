"""Log2Linear: a drop-in for nn.Linear with power-of-two (logarithmic) 4-bit weights."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from nnslim.nn._q4 import LOG2_TABLE, LOG2_UNIT, LOG2_ZERO_CODE, quantize_log2
from nnslim.nn._q4_linear import Q4LinearBase

# The kernels need groups; one scale per channel allows any, and longer groups mean fewer fp32
# folds. 4096 is the kernel's limit, so K is split into the fewest groups of at most 4096 columns
# (rounded up to the kernel's multiple of 32).
_MAX_GROUP = 4096
_GROUP_QUANTUM = 32


class Log2Linear(Q4LinearBase):
    """``y = x @ dequant(W)^T + b`` with every weight ``scale[n] * sign * 2^-e``, e in 0..6, or zero:
    a sign bit and a 3-bit exponent per weight (exponent 7 means zero), one fp32 scale per output
    channel, activations quantized per row to int8 at run time.

    Buffers: ``weight_packed`` (out, ceil(in / 2)) uint8 of codes ``sign << 3 | e`` (low nibble = even
    column), ``weight_scale`` (out,) float32, ``bias`` (out,) float32 or absent. The kernel maps codes
    through the int8 table ``nnslim.nn._q4.LOG2_TABLE`` (2^-e * 64) and uses scale / 64.
    """

    TABLE = LOG2_TABLE
    ZERO_CODE = LOG2_ZERO_CODE

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias, (out_features,))

    def init_kwargs(self) -> dict:
        return dict(in_features=self.in_features, out_features=self.out_features, bias=self.bias is not None)

    @classmethod
    def from_float(cls, linear: nn.Linear, config=None) -> "Log2Linear":
        """``config``: a ``Log2WeightConfig`` or None."""
        from nnslim.quantization.config import Log2WeightConfig  # here: nnslim.quantization imports nnslim.nn

        if not isinstance(linear, nn.Linear):
            raise TypeError(f"Log2Linear.from_float expects an nn.Linear, got {type(linear).__name__}")
        if config is not None and not isinstance(config, Log2WeightConfig):
            raise TypeError(f"config: expected a Log2WeightConfig, got {type(config).__name__}")
        mod = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        codes, scales = quantize_log2(linear.weight)
        mod._set_weights(codes, scales, linear.bias)
        mod.pack()
        return mod

    def kernel_group_size(self) -> int:
        groups = math.ceil(self.in_features / _MAX_GROUP)
        return math.ceil(math.ceil(self.in_features / groups) / _GROUP_QUANTUM) * _GROUP_QUANTUM

    def kernel_scales(self) -> torch.Tensor:
        groups = math.ceil(self.in_features / self.kernel_group_size())
        per_unit = self.weight_scale.detach().cpu().float() / LOG2_UNIT  # exact: a power-of-two division
        return per_unit[:, None].expand(self.out_features, groups).contiguous()

    def _format_repr(self) -> str:
        return ("bits=4 (weights sign + 3-bit exponent: ±2^0..2^-6 or 0, per-channel scale; "
                "activations dynamic per-row int8)")
