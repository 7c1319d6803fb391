"""Quantization-aware training: prepare_qat() wraps layers with fake quantization, the user trains
as usual, convert() turns them into the int8 / int4 drop-ins with the learned ranges."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from nnslim._utils import set_submodule

from nnslim.quantization.config import QuantConfig, register_config_type
from nnslim.quantization.fake_quant import ActivationFakeQuant, WeightFakeQuant, weight_qrange


@register_config_type
@dataclass(frozen=True)
class QATConfig(QuantConfig):
    """weights: "int8" (per channel, with static int8 activations -> Int8Linear / Int8Conv2d) or
    "int4" (weight-only, per group -> Int4Linear; Linear layers only).
    learnable_scales: LSQ-style trained weight scales instead of max |w|."""

    weights: str = "int8"
    group_size: int = 128
    learnable_scales: bool = False
    activation_momentum: float = 0.01

    def __post_init__(self):
        if self.weights not in ("int8", "int4"):
            raise ValueError(f"weights: expected 'int8' or 'int4', got {self.weights!r}")
        if self.weights == "int4" and self.group_size not in (32, 64, 128):
            raise ValueError(f"group_size: expected 32, 64 or 128, got {self.group_size}")
        if not 0 < self.activation_momentum <= 1:
            raise ValueError(f"activation_momentum: expected (0, 1], got {self.activation_momentum}")


class QATLinear(nn.Module):
    def __init__(self, linear: nn.Linear, config: QATConfig):
        super().__init__()
        self.linear, self.config = linear, config
        bits = 8 if config.weights == "int8" else 4
        group = config.group_size if bits == 4 else 0
        self.weight_fq = WeightFakeQuant(linear.weight, bits, group, config.learnable_scales)
        self.act_fq = ActivationFakeQuant(config.activation_momentum) if bits == 8 else None

    def forward(self, x):
        if self.act_fq is not None:
            x = self.act_fq(x)
        return F.linear(x, self.weight_fq(self.linear.weight), self.linear.bias)


class QATConv2d(nn.Module):
    def __init__(self, conv: nn.Conv2d, config: QATConfig):
        super().__init__()
        self.conv, self.config = conv, config
        self.weight_fq = WeightFakeQuant(conv.weight, 8, 0, config.learnable_scales)
        self.act_fq = ActivationFakeQuant(config.activation_momentum)

    def forward(self, x):
        c = self.conv
        return c._conv_forward(self.act_fq(x), self.weight_fq(c.weight), c.bias)



def prepare_qat(model: nn.Module, config: QATConfig = QATConfig(),
                filter_fn: Optional[Callable[[nn.Module, str], bool]] = None) -> nn.Module:
    """Wraps every nn.Linear (and nn.Conv2d for int8) with fake quantization, in place."""
    if not isinstance(config, QATConfig):
        raise TypeError(f"config: expected a QATConfig, got {type(config).__name__}")
    wrapped = 0
    for fqn, m in list(model.named_modules()):
        if not fqn or (filter_fn is not None and not filter_fn(m, fqn)):
            continue
        if type(m) is nn.Linear:
            if config.weights == "int4" and m.in_features % config.group_size:
                continue
            set_submodule(model, fqn, QATLinear(m, config))
            wrapped += 1
        elif type(m) is nn.Conv2d and config.weights == "int8" and m.padding_mode == "zeros" \
                and not isinstance(m.padding, str):
            set_submodule(model, fqn, QATConv2d(m, config))
            wrapped += 1
    if wrapped == 0:
        import warnings

        warnings.warn("nnslim.prepare_qat: no eligible layers found; the model is unchanged", stacklevel=2)
    return model


@torch.no_grad()
def _int8_from_qat(wrapper, float_cls, dropin_cls):
    layer = wrapper.linear if float_cls is nn.Linear else wrapper.conv
    scale, zp = wrapper.act_fq.qparams()
    new = dropin_cls.from_float(layer, input_qparams=(scale, zp))
    s = wrapper.weight_fq.scale.detach().abs().reshape(-1).float().clamp_min(1e-12)
    qmin, qmax, _ = weight_qrange(8)
    w = layer.weight.reshape(layer.weight.shape[0], -1)
    new.weight_int8.copy_(torch.clamp(torch.round(w / s[:, None]), qmin, qmax).reshape(layer.weight.shape)
                          .to(torch.int8))
    new.weight_scale.copy_(s)
    new._packed = None
    return new


def convert(model: nn.Module) -> nn.Module:
    """Replaces QAT wrappers by kernel drop-ins (in place): int8 -> Int8Linear / Int8Conv2d with static
    activations at the trained ranges; int4 -> Int4Linear with the trained group scales."""
    from nnslim.nn import Int8Conv2d, Int8Linear

    model.eval()
    for fqn, m in list(model.named_modules()):
        if isinstance(m, QATConv2d):
            set_submodule(model, fqn, _int8_from_qat(m, nn.Conv2d, Int8Conv2d))
        elif isinstance(m, QATLinear):
            if m.config.weights == "int8":
                set_submodule(model, fqn, _int8_from_qat(m, nn.Linear, Int8Linear))
            else:
                set_submodule(model, fqn, _int4_from_qat(m))
    return model


@torch.no_grad()
def _int4_from_qat(wrapper: QATLinear):
    """Int4Linear holding exactly the trained grid: codes round(w / s) + 8 and the learned group scales."""
    from nnslim.nn import Int4Linear
    from nnslim.nn._q4 import INT4_ZERO_CODE, pack_nibbles

    linear, fq = wrapper.linear, wrapper.weight_fq
    g = fq.group_size
    scales = fq.scale.detach().abs().clamp_min(1e-12).reshape(linear.out_features, -1).float()
    wg = linear.weight.detach().float().reshape(linear.out_features, -1, g)
    q = torch.clamp(torch.round(wg / scales[:, :, None]), fq.qmin, fq.qmax).reshape(linear.out_features, -1)
    mod = Int4Linear(linear.in_features, linear.out_features, bias=linear.bias is not None, group_size=g)
    mod._set_weights(pack_nibbles((q + INT4_ZERO_CODE).to(torch.uint8), INT4_ZERO_CODE), scales, linear.bias)
    mod.pack()
    return mod
