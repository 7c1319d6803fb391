"""MaxPool2d: nn.MaxPool2d on nnslim's fp32 NCHW kernel (csrc/kernels/f32-maxpool/).

torch's NCHW max pool is slow on CPUs (measured: 4.9 ms for ResNet's 3x3 / 2 pool at 64 x 112 x 112,
2 threads, AMD Zen 3; its channels_last kernel is fast, but a sparse / NCHW model would pay two
layout copies). The results are torch's (max is exact; NaN in a window gives NaN); only +0 / -0
ties may come out with the other sign.

On an int8 graph edge (whole-model int8_static) the input is an int8 NHWC tensor from the
previous int8 node: it runs csrc/kernels/qs8-maxpool/ and returns int8 NHWC in the same
quantization (max commutes with the monotone dequantization), so the edge stays int8."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn import _torch_ops


def _pair(v):
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class MaxPool2d(nn.MaxPool2d):
    """Drop-in for ``nn.MaxPool2d`` (same arguments and attributes; an nn.MaxPool2d subclass). CPU
    float32 NCHW-contiguous inputs run the native kernel; anything else (channels_last, other dtypes,
    CUDA, ``return_indices=True``, autograd) runs torch's."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode)
        self._op_handle = _torch_ops.register(self)

    @classmethod
    def from_float(cls, pool: nn.MaxPool2d) -> "MaxPool2d":
        if not isinstance(pool, nn.MaxPool2d):
            raise TypeError(f"MaxPool2d.from_float expects an nn.MaxPool2d, got {type(pool).__name__}")
        return cls(pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.return_indices, pool.ceil_mode)

    def init_kwargs(self) -> dict:
        return dict(kernel_size=_pair(self.kernel_size), stride=_pair(self.stride), padding=_pair(self.padding),
                    dilation=_pair(self.dilation), return_indices=self.return_indices, ceil_mode=self.ceil_mode)

    def _native_ok(self, x: torch.Tensor) -> bool:
        k, p = _pair(self.kernel_size), _pair(self.padding)
        return (not self.return_indices and x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() in (3, 4)
                and x.is_contiguous() and not (torch.is_grad_enabled() and x.requires_grad) and x.numel() > 0
                and 2 * p[0] <= k[0] and 2 * p[1] <= k[1] and _native.has_cpu_kernels())

    def _int8_call(self, x):
        """The lowered graph's int8 hand-off (nnslim.graph.lowered): a numpy int8 NHWC array -> the pooled
        int8 NHWC array; NotImplemented where forward decides (float inputs, return_indices)."""
        if x.__class__ is not np.ndarray or self.return_indices or x.ndim != 4:
            return NotImplemented
        return _native.C.qs8_maxpool2d_nhwc(x, _pair(self.kernel_size), _pair(self.stride), _pair(self.padding),
                                            _pair(self.dilation), bool(self.ceil_mode), None, _native.num_threads())

    def forward(self, x: torch.Tensor):
        if isinstance(x, torch.Tensor) and x.dtype == torch.int8:
            if x.dim() != 4 or not x.is_contiguous() or x.device.type != "cpu" or self.return_indices:
                raise ValueError("MaxPool2d: an int8 input must be a contiguous CPU NHWC tensor (another int8 "
                                 f"node's output) and return_indices=False; got shape {tuple(x.shape)}")
            return _torch_ops.forward(self, x)
        if not isinstance(x, torch.Tensor) or not self._native_ok(x):
            return super().forward(x)
        return _torch_ops.forward(self, x)

    def _fake_output(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.int8:
            n, oh, ow, c = self._int8_output_shape(x)
            return x.new_empty(n, oh, ow, c)
        return super().forward(x)

    def _int8_output_shape(self, x: torch.Tensor):
        n, h, w, c = x.shape
        probe = super().forward(torch.empty(1, 1, h, w, device="meta"))
        return n, probe.shape[2], probe.shape[3], c

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.int8:
            y = _native.C.qs8_maxpool2d_nhwc(x.numpy(), _pair(self.kernel_size), _pair(self.stride),
                                             _pair(self.padding), _pair(self.dilation), bool(self.ceil_mode), None,
                                             _native.num_threads())
            return torch.from_numpy(y)
        x4 = x if x.dim() == 4 else x.unsqueeze(0)
        y = _native.C.f32_maxpool2d(x4.numpy(), _pair(self.kernel_size), _pair(self.stride), _pair(self.padding),
                                    _pair(self.dilation), bool(self.ceil_mode), None, _native.num_threads())
        out = torch.from_numpy(y)
        return out if x.dim() == 4 else out.squeeze(0)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._op_handle = _torch_ops.register(self)  # a copy must not answer to the original's handle

    def extra_repr(self) -> str:
        return super().extra_repr() + ", kernel=f32-maxpool (int8 NHWC input: qs8-maxpool)"
