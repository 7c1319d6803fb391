"""Int8Linear: a drop-in for nn.Linear running nnslim's int8 GEMM kernels."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn import _row_dispatch, _torch_ops
from nnslim.nn._common import (Int8LinearCommon, PackedWeightsMixin, as_float32_rows, check_inference_input,
                               per_channel_symmetric_int8)
from nnslim.nn._weight_view import FloatWeightMixin


def fold_zero_point(bias: Optional[torch.Tensor], weight_int8: torch.Tensor, weight_scale: torch.Tensor,
                    input_scale: float, zero_point: int) -> Optional[torch.Tensor]:
    """Static activations q = x / s + zp contribute zp * sum_k w[n, k]; subtracting that once in the
    bias lets the kernel treat q as if it had no zero point."""
    if zero_point == 0:
        return None if bias is None else bias.float().contiguous()
    colsum = weight_int8.reshape(weight_int8.shape[0], -1).to(torch.int64).sum(1).double()
    term = input_scale * weight_scale.double() * zero_point * colsum
    b = torch.zeros_like(term) if bias is None else bias.double()
    return (b - term).float().contiguous()


class Int8Linear(Int8LinearCommon, PackedWeightsMixin, FloatWeightMixin, nn.Module):
    """``y = x @ dequant(W)^T + b`` with int8 weights (per output channel scales) and int8
    activations, accumulated exactly in int32.

    Activations are quantized per row at run time (``static=False``, the default) or with one
    calibrated scale / zero point (``static=True``, buffers ``input_scale`` / ``input_zero_point``).
    ``activation_bits=7`` (dynamic only) quantizes each row asymmetrically onto [0, 127] (a zero
    point per row) instead of symmetrically onto [-127, 127]: on AVX2 CPUs without VNNI the GEMM then
    multiplies without sign steps (1.3-1.4x from 16 rows, Zen 3); one-sided rows (after GELU / ReLU)
    keep about their 8-bit resolution, symmetric ones lose half; on other CPUs it gains nothing.
    ``relu=True`` fuses a following ReLU. Buffers (the portable form saved in state_dicts):
    ``weight_int8`` (out, in) int8, ``weight_scale`` (out,) float32, ``bias`` (out,) float32 or absent.
    The ISA-specific packed copy is built from them on first use and rebuilt after ``load_state_dict``.
    """

    routes_f_linear = True  # F.linear(x, self.weight, self.bias) runs forward (nn/_weight_view.py)

    bits = 8
    activation_bits = 8  # instances pickled before the attribute existed read the default

    def __init__(self, in_features: int, out_features: int, bias: bool = True, static: bool = False,
                 relu: bool = False, activation_bits: int = 8):
        super().__init__()
        self._init_int8_linear(in_features, out_features, bias, static, relu)
        if activation_bits not in (7, 8) or isinstance(activation_bits, bool):
            raise ValueError(f"activation_bits: expected 8 or 7, got {activation_bits!r}")
        if activation_bits == 7 and static:
            raise ValueError("activation_bits=7 applies to dynamic activations; a static layer's codes come from "
                             "its calibrated qparams (Int8StaticConfig(activation_bits=7))")
        self.activation_bits = int(activation_bits)
        self.register_buffer("weight_int8", torch.zeros(out_features, in_features, dtype=torch.int8))
        self._init_packing()

    @classmethod
    def from_float(cls, linear: nn.Linear, config=None, input_qparams: Optional[Tuple[float, int]] = None,
                   relu: bool = False) -> "Int8Linear":
        """``input_qparams=(scale, zero_point)`` from calibration makes a static layer."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"Int8Linear.from_float expects an nn.Linear, got {type(linear).__name__}")
        static = input_qparams is not None
        mod = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, static=static, relu=relu,
                  activation_bits=8 if static else getattr(config, "activation_bits", 8))
        q, scale = per_channel_symmetric_int8(linear.weight)
        mod.weight_int8.copy_(q)
        mod.weight_scale.copy_(scale)
        if linear.bias is not None:
            mod.bias.copy_(linear.bias.detach().float())
        if input_qparams is not None:
            mod.set_input_qparams(*input_qparams)
        mod.pack()
        return mod

    def init_kwargs(self) -> dict:
        return dict(super().init_kwargs(), activation_bits=self.activation_bits)

    def dequantized_weight(self) -> torch.Tensor:
        return self.weight_int8.float() * self.weight_scale[:, None]

    def _float_weight_shape(self):
        return (self.out_features, self.in_features)

    def pack(self):
        """Packs the weights for the selected kernel path (NNSLIM_ISA or the best available)."""
        with self._pack_lock:
            if self._packed is None:
                self._packed_small = None
                packed = _native.C.PackedQs8Weights(self.weight_int8.cpu().numpy())
                if self.static:
                    self._bias_folded = fold_zero_point(self.bias, self.weight_int8, self.weight_scale,
                                                        float(self.input_scale), int(self.input_zero_point))
                self._packed = packed
            return self._packed

    def _packed_for_rows(self, rows: int):
        """The packed weights for a call with ``rows`` rows (nnslim.nn._row_dispatch): few rows on an
        AMX machine use a second, lazily packed copy for the VNNI kernel."""
        packed = self._packed if self._packed is not None else self.pack()
        isa = _row_dispatch.kernel_for_rows(packed.isa, rows)
        if isa == packed.isa:
            return packed
        small = getattr(self, "_packed_small", None)
        if small is None or small.isa != isa:
            with self._pack_lock:
                small = _native.C.PackedQs8Weights(self.weight_int8.cpu().numpy(), isa)
                self._packed_small = small
        return small

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_inference_input("Int8Linear", x, self.in_features)
        return _torch_ops.forward(self, x)

    _fake_output = _torch_ops.linear_fake_output

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            if self.static:
                raise NotImplementedError("Int8Linear(static=True) runs on the CPU only")
            if self.activation_bits == 7:
                raise NotImplementedError("Int8Linear(activation_bits=7) runs on the CPU only (it pays only on "
                                          "AVX2 CPUs); use activation_bits=8 on CUDA")
            from nnslim.nn._cuda_ops import int8_linear_cuda  # CUDA path lives with the CUDA kernels
            return int8_linear_cuda(self, x)
        lead = x.shape[:-1]
        rows = as_float32_rows(x, self.in_features)
        if rows.shape[0] == 0:
            return torch.empty(*lead, self.out_features, dtype=x.dtype)
        packed = self._packed_for_rows(rows.shape[0])
        return self._run_rows(packed, rows, lead, x.dtype)

    def extra_repr(self) -> str:
        isa = self._packed.isa if self._packed is not None else "unpacked"
        act = self._activation_repr()
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, bits=8 (weights per-channel, activations {act})"
                f"{', relu' if self.relu else ''}, kernel={isa}")
