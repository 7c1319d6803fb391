"""Float modules that the fusion passes create: the exact float semantics of what an int8 kernel will
fuse, so a fused graph still runs (and is tested) in float before quantization."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from nnslim.nn._common import FUSED_ACTIVATIONS, activation_repr

# name -> float function of each activation a conv epilogue can apply (FUSED_ACTIVATIONS)
ACTIVATIONS = {
    "none": lambda y, lo, hi: y,
    "relu": lambda y, lo, hi: torch.relu(y),
    "clamp": lambda y, lo, hi: torch.clamp(y, lo, hi),
    "hardswish": lambda y, lo, hi: F.hardswish(y),
    "hardsigmoid": lambda y, lo, hi: F.hardsigmoid(y),
}
assert tuple(ACTIVATIONS) == FUSED_ACTIVATIONS


class FusedConv2d(nn.Conv2d):
    """``act(conv(x) + residual)``: an nn.Conv2d with a fused activation and an optional residual
    operand (the other input of an add the conv fed). Same parameters and state_dict as nn.Conv2d."""

    def __init__(self, *args, activation: str = "none", act_lo: float = 0.0, act_hi: float = 0.0,
                 residual: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if activation not in FUSED_ACTIVATIONS:
            raise ValueError(f"activation: expected one of {sorted(FUSED_ACTIVATIONS)}, got {activation!r}")
        self.activation, self.act_lo, self.act_hi, self.residual = activation, float(act_lo), float(act_hi), bool(residual)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "FusedConv2d":
        if isinstance(conv, FusedConv2d):
            return conv
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  conv.groups, conv.bias is not None, conv.padding_mode)
        new.weight = conv.weight
        new.bias = conv.bias
        return new.train(conv.training)

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        y = super().forward(x)
        if self.residual:
            if residual is None:
                raise ValueError("FusedConv2d: this conv fuses a residual add; call it with (x, residual)")
            y = y + residual
        return ACTIVATIONS[self.activation](y, self.act_lo, self.act_hi)

    def extra_repr(self) -> str:
        s = super().extra_repr() + activation_repr(self.activation, self.act_lo, self.act_hi)
        return s + (", + residual" if self.residual else "")


class FusedLinear(nn.Linear):
    """``relu(linear(x))`` when ``relu``: what Int8Linear's epilogue fuses. Same state_dict as nn.Linear."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, relu: bool = False):
        super().__init__(in_features, out_features, bias)
        self.relu = bool(relu)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "FusedLinear":
        if isinstance(linear, FusedLinear):
            return linear
        new = cls(linear.in_features, linear.out_features, linear.bias is not None)
        new.weight = linear.weight
        new.bias = linear.bias
        return new.train(linear.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return torch.relu(y) if self.relu else y

    def extra_repr(self) -> str:
        return super().extra_repr() + (", relu" if self.relu else "")


class ChannelMul(nn.Module):
    """``x * gate`` with ``gate`` of shape (N, C, 1, 1): the squeeze-excite multiply as a module, so the
    int8 graph can run it on its int8 edge (nnslim.nn.Int8ChannelMul). Float semantics unchanged."""

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return x * gate
