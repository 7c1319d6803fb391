"""Fake quantization for QAT: quantize-dequantize in float with a straight-through estimator, so the
network trains against the rounding it will see on the int8 / int4 kernels."""
from __future__ import annotations

import math

import torch
import torch.nn as nn


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round() forward, identity backward."""
    return x + (torch.round(x) - x).detach()


def grad_scale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """x forward; gradient multiplied by ``scale`` (LSQ's step-size gradient scaling)."""
    return x * scale + (x - x * scale).detach()


def fake_quant(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    q = torch.clamp(round_ste(x / scale) + zero_point, qmin, qmax)
    return (q - zero_point) * scale


def weight_qrange(bits: int):
    """Symmetric signed range used by the kernels: int8 [-127, 127], int4 [-8, 7] (scale from max / 7)."""
    if bits == 8:
        return -127, 127, 127.0
    if bits == 4:
        return -8, 7, 7.0
    raise ValueError(f"bits: expected 4 or 8, got {bits}")


class WeightFakeQuant(nn.Module):
    """Per-output-channel (or per-group along the input dim) symmetric weight fake-quant.
    ``learnable=True`` trains the scales (LSQ); otherwise they follow max |w| each step."""

    def __init__(self, weight: torch.Tensor, bits: int = 8, group_size: int = 0, learnable: bool = False):
        super().__init__()
        self.bits, self.group_size, self.learnable = bits, group_size, learnable
        self.qmin, self.qmax, self.levels = weight_qrange(bits)
        with torch.no_grad():
            init = self._max_scale(weight)
        if learnable:
            self.scale = nn.Parameter(init)
        else:
            self.register_buffer("scale", init)

    def _grouped(self, w: torch.Tensor) -> torch.Tensor:
        w2 = w.reshape(w.shape[0], -1)
        if self.group_size:
            if w2.shape[1] % self.group_size:
                raise ValueError(f"group_size={self.group_size} must divide in_features={w2.shape[1]}")
            return w2.reshape(w2.shape[0], -1, self.group_size)
        return w2.unsqueeze(1)

    def _max_scale(self, w: torch.Tensor) -> torch.Tensor:
        amax = self._grouped(w.detach()).abs().amax(dim=2, keepdim=True)
        return torch.where(amax > 0, amax / self.levels, torch.ones_like(amax))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.learnable:
            g = self._grouped(w)
            s = grad_scale(self.scale.abs() + 1e-12, 1.0 / math.sqrt(g.shape[-1] * self.qmax))
        else:
            g = self._grouped(w)
            with torch.no_grad():
                self.scale.copy_(self._max_scale(w))
            s = self.scale
        q = torch.clamp(round_ste(g / s), self.qmin, self.qmax) * s
        return q.reshape(w.shape)


class ActivationFakeQuant(nn.Module):
    """Per-tensor asymmetric int8 activation fake-quant with an EMA of the batch range (what
    calibration would measure); the range freezes in eval mode."""

    def __init__(self, momentum: float = 0.01):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))

    def qparams(self):
        from nnslim.quantization.observers import qparams_from_range

        return qparams_from_range(float(self.lo), float(self.hi), symmetric=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                lo, hi = x.detach().min(), x.detach().max()
                if not bool(self.initialized):
                    self.lo.copy_(lo)
                    self.hi.copy_(hi)
                    self.initialized.fill_(True)
                else:
                    self.lo.add_(self.momentum * (lo - self.lo))
                    self.hi.add_(self.momentum * (hi - self.hi))
        if not bool(self.initialized):
            return x
        scale, zp = self.qparams()
        return fake_quant(x, torch.tensor(scale), torch.tensor(float(zp)), -128, 127)
