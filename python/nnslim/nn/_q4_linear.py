"""The machinery Int4Linear and Log2Linear share: buffers in the portable 4-bit form, packing for the
selected kernel path (rebuilt after load_state_dict / .to()), and the drop-in forward."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn import _torch_ops
from nnslim.nn._common import Float32BuffersMixin, PackedWeightsMixin, as_float32_rows, check_inference_input
from nnslim.nn._q4 import decode
from nnslim.nn._weight_view import FloatWeightMixin


class Q4LinearBase(Float32BuffersMixin, PackedWeightsMixin, FloatWeightMixin, nn.Module):
    """``y = x @ dequant(W)^T + b`` with 4-bit weight codes mapped through a 16-entry table and fp32
    scales; activations are quantized per row to int8 at run time and every group's dot product is
    exact in int32. Subclasses define the table, the scale layout and the kernel's group size.

    Buffers: ``weight_packed`` (out, ceil(in / 2)) uint8, ``weight_scale`` (shape per subclass)
    float32, ``bias`` (out,) float32 or absent.
    """

    routes_f_linear = True  # F.linear(x, self.weight, self.bias) runs forward (nn/_weight_view.py)

    bits = 4
    TABLE: np.ndarray
    ZERO_CODE: int

    def __init__(self, in_features: int, out_features: int, bias: bool, scale_shape):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"in_features and out_features must be positive, got {in_features}, {out_features}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        zero_byte = self.ZERO_CODE | (self.ZERO_CODE << 4)
        self.register_buffer("weight_packed", torch.full((out_features, math.ceil(in_features / 2)), zero_byte,
                                                         dtype=torch.uint8))
        self.register_buffer("weight_scale", torch.ones(scale_shape, dtype=torch.float32))
        if bias:
            self.register_buffer("bias", torch.zeros(out_features, dtype=torch.float32))
        else:
            self.bias = None
        self._init_packing()

    # -- subclass hooks ---------------------------------------------------------------------------
    def kernel_group_size(self) -> int:
        raise NotImplementedError

    def kernel_scales(self) -> torch.Tensor:
        """(out, ceil(in / kernel_group_size())) float32: the scale of each table value."""
        raise NotImplementedError

    def _format_repr(self) -> str:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------------
    def _set_weights(self, codes: torch.Tensor, scales: torch.Tensor, bias) -> None:
        self.weight_packed.copy_(codes)
        self.weight_scale.copy_(scales)
        if bias is not None:
            self.bias.copy_(bias.detach().float())
        self._packed = None

    def dequantized_weight(self) -> torch.Tensor:
        values = decode(self.weight_packed.cpu(), self.in_features, self.TABLE)
        scales = self.kernel_scales().repeat_interleave(self.kernel_group_size(), dim=1)[:, : self.in_features]
        return values * scales

    def _float_weight(self) -> torch.Tensor:
        return self.dequantized_weight().to(self.weight_packed.device)

    def _float_weight_shape(self):
        return (self.out_features, self.in_features)

    def pack(self):
        """Packs the weights for the selected kernel path (NNSLIM_ISA or the best available)."""
        with self._pack_lock:
            if self._packed is None:
                self._packed = _native.C.PackedQ4Weights(
                    self.weight_packed.cpu().contiguous().numpy(), self.kernel_scales().numpy(), self.in_features,
                    self.kernel_group_size(), self.TABLE)
            return self._packed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_inference_input(type(self).__name__, x, self.in_features)
        return _torch_ops.forward(self, x)

    _fake_output = _torch_ops.linear_fake_output

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        name = type(self).__name__
        if x.device.type != "cpu":
            raise NotImplementedError(f"{name} runs on the CPU only; got an input on {x.device}")
        lead = x.shape[:-1]
        rows = as_float32_rows(x, self.in_features)
        if rows.shape[0] == 0:
            return torch.empty(*lead, self.out_features, dtype=x.dtype)
        bias = None if self.bias is None else self.bias.cpu().float().contiguous().numpy()
        y = self.pack().linear(rows.numpy(), bias, _native.num_threads())
        out = torch.from_numpy(y).reshape(*lead, self.out_features)
        return out if x.dtype == torch.float32 else out.to(x.dtype)

    def extra_repr(self) -> str:
        isa = self._packed.isa if self._packed is not None else "unpacked"
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"{self._format_repr()}, kernel={isa}")
