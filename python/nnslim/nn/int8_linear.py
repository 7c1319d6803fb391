"""Int8Linear: a drop-in for nn.Linear running nnslim's int8 GEMM kernels."""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn._common import as_float32_rows, check_inference_input, per_channel_symmetric_int8


class Int8Linear(nn.Module):
    """``y = x @ dequant(W)^T + b`` with int8 weights (per output channel scales) and activations
    quantized per row (per token) at run time, accumulated exactly in int32.

    Buffers (the portable form saved in state_dicts): ``weight_int8`` (out, in) int8, ``weight_scale``
    (out,) float32, ``bias`` (out,) float32 or absent. The ISA-specific packed copy is built from them
    on first use and rebuilt after ``load_state_dict``.
    """

    bits = 8

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"in_features and out_features must be positive, got {in_features}, {out_features}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.register_buffer("weight_int8", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_features, dtype=torch.float32))
        if bias:
            self.register_buffer("bias", torch.zeros(out_features, dtype=torch.float32))
        else:
            self.bias = None
        self._packed = None
        self._pack_lock = threading.Lock()

    @classmethod
    def from_float(cls, linear: nn.Linear, config=None) -> "Int8Linear":
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"Int8Linear.from_float expects an nn.Linear, got {type(linear).__name__}")
        mod = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        q, scale = per_channel_symmetric_int8(linear.weight)
        mod.weight_int8.copy_(q)
        mod.weight_scale.copy_(scale)
        if linear.bias is not None:
            mod.bias.copy_(linear.bias.detach().float())
        mod.to(linear.weight.device)
        mod.pack()
        return mod

    def dequantized_weight(self) -> torch.Tensor:
        return self.weight_int8.float() * self.weight_scale[:, None]

    def pack(self):
        """Packs the weights for the selected kernel path (NNSLIM_ISA or the best available)."""
        with self._pack_lock:
            if self._packed is None:
                self._packed = _native.C.PackedQs8Weights(self.weight_int8.cpu().numpy())
        return self._packed

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._packed = None  # stale: the int8 weights changed

    def _apply(self, fn, recurse=True):
        self._packed = None
        return super()._apply(fn, recurse)

    def __getstate__(self):
        state = super().__getstate__().copy()
        state["_packed"] = None
        state.pop("_pack_lock", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._pack_lock = threading.Lock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_inference_input("Int8Linear", x, self.in_features)
        if x.device.type != "cpu":
            from nnslim.nn._cuda_ops import int8_linear_cuda  # CUDA path lives with the CUDA kernels
            return int8_linear_cuda(self, x)
        lead = x.shape[:-1]
        rows = as_float32_rows(x, self.in_features)
        if rows.shape[0] == 0:
            return torch.empty(*lead, self.out_features, dtype=x.dtype)
        bias = None if self.bias is None else self.bias.numpy()
        y = self.pack().linear_dynamic(rows.numpy(), self.weight_scale.numpy(), bias, False,
                                       _native.num_threads())
        out = torch.from_numpy(y).reshape(*lead, self.out_features)
        return out if x.dtype == torch.float32 else out.to(x.dtype)

    def extra_repr(self) -> str:
        isa = self._packed.isa if self._packed is not None else "unpacked"
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, bits=8 (weights per-channel, activations dynamic per-row), "
                f"kernel={isa}")
