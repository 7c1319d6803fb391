"""AdaptiveAvgPool2d: nn.AdaptiveAvgPool2d that also reads an int8 graph edge.

On an int8 edge (whole-model int8_static: the last conv before a CNN's classifier head) a global
pool (output_size 1) takes the int8 NHWC tensor of the previous node and returns the fp32 channel
means, dequantized, shaped (N, C, 1, 1) like torch's: csrc/kernels/qs8-gavgpool/ sums exactly in
int32, so the conv before it writes 1 byte per value instead of 4 and torch's pool never runs.
Float inputs run torch's pool unchanged."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn import _torch_ops
from nnslim.nn._common import EdgeQParamsMixin


def is_global(output_size) -> bool:
    """Whether an adaptive pool's output size (int, or a pair; None keeps the input's size) is 1 x 1."""
    if isinstance(output_size, int):
        return output_size == 1
    return isinstance(output_size, (tuple, list)) and len(output_size) == 2 and all(v == 1 for v in output_size)


class AdaptiveAvgPool2d(EdgeQParamsMixin, nn.AdaptiveAvgPool2d):
    """Drop-in for ``nn.AdaptiveAvgPool2d`` (an nn.AdaptiveAvgPool2d subclass). ``int8_input=True``
    (global pools only) adds ``input_scale`` / ``input_zero_point`` buffers: the qparams of the int8
    NHWC tensor it is then called with."""

    def __init__(self, output_size, int8_input: bool = False):
        super().__init__(output_size)
        self.int8_input = False
        if int8_input:
            if not is_global(output_size):
                raise ValueError(f"output_size: an int8 input needs a global pool (1), got {output_size!r}")
            self._add_edge_buffers("input")
        self._op_handle = _torch_ops.register(self)

    @classmethod
    def from_float(cls, pool: nn.AdaptiveAvgPool2d) -> "AdaptiveAvgPool2d":
        if not isinstance(pool, nn.AdaptiveAvgPool2d):
            raise TypeError(f"AdaptiveAvgPool2d.from_float expects an nn.AdaptiveAvgPool2d, got {type(pool).__name__}")
        return cls(pool.output_size)

    def init_kwargs(self) -> dict:
        size = self.output_size
        return dict(output_size=size if isinstance(size, int) else tuple(size), int8_input=self.int8_input)

    def set_input_qparams(self, scale: float, zero_point: int) -> None:
        """Makes the pool read int8 NHWC tensors with these qparams (another int8 node's output)."""
        if not is_global(self.output_size):
            raise ValueError(f"set_input_qparams: an int8 input needs a global pool (1), got {self.output_size!r}")
        self._set_edge_qparams("input", scale, zero_point)

    def _int8_call(self, x):
        """The lowered graph's int8 hand-off (nnslim.graph.lowered): a numpy int8 NHWC array -> the fp32
        channel means (N, C, 1, 1) tensor; NotImplemented where forward decides."""
        if x.__class__ is not np.ndarray or not self.int8_input or x.ndim != 4:
            return NotImplemented
        y = _native.C.qs8_global_avgpool_nhwc(x, *self.edge_scalars("input"), num_threads=_native.num_threads())
        return torch.from_numpy(y).view(x.shape[0], x.shape[3], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The int8 edge of a converted graph (9 per MobileNetV3 image, in its SE blocks): the fewest
        # Python steps to the kernel; anything else, or torch.compile tracing, takes the checked path.
        if x.__class__ is torch.Tensor and x.dtype is torch.int8 and x.is_contiguous() and x.is_cpu and \
                not _torch_ops.compiling():
            y = self._int8_call(x.numpy())
            if y is not NotImplemented:
                return y
        if isinstance(x, torch.Tensor) and x.dtype == torch.int8:
            if not self.int8_input:
                raise ValueError("AdaptiveAvgPool2d: int8 input, but no input qparams (set_input_qparams)")
            if x.dim() != 4 or not x.is_contiguous() or x.device.type != "cpu":
                raise ValueError("AdaptiveAvgPool2d: an int8 input must be a contiguous CPU NHWC tensor (another "
                                 f"int8 node's output), got shape {tuple(x.shape)}")
            return _torch_ops.forward(self, x)
        return super().forward(x)

    def _fake_output(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_empty(x.shape[0], x.shape[3], 1, 1, dtype=torch.float32)

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        return self._int8_call(x.numpy())

    def __setstate__(self, state):
        super().__setstate__(state)
        self._op_handle = _torch_ops.register(self)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", int8 NHWC input (qs8-gavgpool)" if self.int8_input else "")


def _pair(v):
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class AvgPool2d(EdgeQParamsMixin, nn.AvgPool2d):
    """Drop-in for ``nn.AvgPool2d`` (an nn.AvgPool2d subclass) that also reads an int8 graph edge:
    ResNet-D's and timm's average-pool shortcuts (AvgPool2d(2, 2, ceil_mode=True,
    count_include_pad=False) before a 1x1 conv). ``int8_input=True`` adds ``input_scale`` /
    ``input_zero_point`` buffers; an int8 NHWC input (another int8 node's output) then runs
    csrc/kernels/qs8-avgpool/ and returns int8 NHWC in the same scale and zero point (torch's
    avg_pool2d of the dequantized values, rounded to the nearest code), so the edge stays int8
    through the pool. Float inputs run torch's pool unchanged."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None, int8_input: bool = False):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        self.int8_input = False
        if int8_input:
            self._add_edge_buffers("input")
        self._op_handle = _torch_ops.register(self)

    @staticmethod
    def int8_capable(pool: nn.Module) -> bool:
        """Whether an nn.AvgPool2d can run on an int8 edge: 2-D window arguments, no negative divisor."""
        d = pool.divisor_override
        return isinstance(pool, nn.AvgPool2d) and (d is None or (isinstance(d, int) and d > 0))

    @classmethod
    def from_float(cls, pool: nn.AvgPool2d) -> "AvgPool2d":
        if not isinstance(pool, nn.AvgPool2d):
            raise TypeError(f"AvgPool2d.from_float expects an nn.AvgPool2d, got {type(pool).__name__}")
        return cls(pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode, pool.count_include_pad,
                   pool.divisor_override)

    def init_kwargs(self) -> dict:
        return dict(kernel_size=_pair(self.kernel_size), stride=_pair(self.stride), padding=_pair(self.padding),
                    ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad,
                    divisor_override=self.divisor_override, int8_input=self.int8_input)

    def set_input_qparams(self, scale: float, zero_point: int) -> None:
        """Makes the pool read int8 NHWC tensors with these qparams (another int8 node's output)."""
        if not self.int8_capable(self):
            raise ValueError(f"divisor_override: an int8 input needs None or a positive int, got {self.divisor_override!r}")
        self._set_edge_qparams("input", scale, zero_point)

    def _pool_int8(self, x: np.ndarray) -> np.ndarray:
        return _native.C.qs8_avgpool2d_nhwc(x, _pair(self.kernel_size), _pair(self.stride), _pair(self.padding),
                                            bool(self.ceil_mode), bool(self.count_include_pad), self.divisor_override,
                                            self.edge_scalars("input")[1], None, _native.num_threads())

    def _int8_call(self, x):
        """The lowered graph's int8 hand-off (nnslim.graph.lowered): a numpy int8 NHWC array -> the pooled
        int8 NHWC array in the same qparams; NotImplemented where forward decides."""
        if x.__class__ is not np.ndarray or not self.int8_input or x.ndim != 4:
            return NotImplemented
        return self._pool_int8(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dtype == torch.int8:
            if not self.int8_input:
                raise ValueError("AvgPool2d: int8 input, but no input qparams (set_input_qparams)")
            if x.dim() != 4 or not x.is_contiguous() or x.device.type != "cpu":
                raise ValueError("AvgPool2d: an int8 input must be a contiguous CPU NHWC tensor (another int8 node's "
                                 f"output), got shape {tuple(x.shape)}")
            return _torch_ops.forward(self, x)
        return super().forward(x)

    def _fake_output(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, c = x.shape
        probe = super().forward(torch.empty(1, 1, h, w, device="meta"))
        return x.new_empty(n, probe.shape[2], probe.shape[3], c)

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._pool_int8(x.numpy()))

    def __setstate__(self, state):
        super().__setstate__(state)
        self._op_handle = _torch_ops.register(self)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", int8 NHWC input (qs8-avgpool)" if self.int8_input else "")
