"""Int8ChannelMul: the squeeze-excite multiply ``x * gate`` on an int8 graph edge.

x arrives int8 NHWC from the previous int8 node (``input_scale`` / ``input_zero_point``), the gate
fp32 (N, C, 1, 1) from the SE branch; the product leaves requantized with ``output_scale`` /
``output_zero_point`` as the int8 NHWC input of the next conv (csrc/dispatch/qs8-channel-mul.cc), so
the activation never goes back to fp32. Float inputs compute ``x * gate`` in torch."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn import _torch_ops
from nnslim.nn._common import EdgeQParamsMixin


class Int8ChannelMul(EdgeQParamsMixin, nn.Module):
    """``forward(x, gate)``: x int8 NHWC (N, H, W, C) times gate (N, C, 1, 1) -> int8 NHWC (``int8_output``)
    or fp32 NCHW-shaped channels_last; float x -> ``x * gate``."""

    def __init__(self, int8_input: bool = False, int8_output: bool = False):
        super().__init__()
        self.int8_input = self.int8_output = False
        if int8_input:
            self._add_edge_buffers("input")
        if int8_output:
            self._add_edge_buffers("output")
        self._op_handle = _torch_ops.register(self)

    def set_input_qparams(self, scale: float, zero_point: int) -> None:
        """x arrives int8 NHWC in these qparams (another int8 node's output)."""
        self._set_edge_qparams("input", scale, zero_point)

    def set_output_qparams(self, scale: float, zero_point: int) -> None:
        """The product leaves int8 NHWC in these qparams (the next int8 node's input)."""
        self._set_edge_qparams("output", scale, zero_point)

    def init_kwargs(self) -> dict:
        return dict(int8_input=self.int8_input, int8_output=self.int8_output)

    def _int8_call(self, x, gate):
        """The lowered graph's int8 hand-off (nnslim.graph.lowered): x a numpy int8 NHWC array, gate the
        SE branch's fp32 tensor -> the int8 NHWC product array; NotImplemented where forward decides."""
        if x.__class__ is not np.ndarray or not (self.int8_input and self.int8_output) or \
                gate.__class__ is not torch.Tensor or gate.dtype is not torch.float32 or x.ndim != 4 or \
                gate.shape != (x.shape[0], x.shape[3], 1, 1) or not gate.is_contiguous() or gate.requires_grad:
            return NotImplemented
        scale, zp = self.edge_scalars("input")
        out_scale, out_zp = self.edge_scalars("output")
        return _native.C.qs8_channel_mul_nhwc(x, scale, zp, gate.numpy().reshape(x.shape[0], x.shape[3]), out_scale,
                                              out_zp, num_threads=_native.num_threads())

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        # The int8 edge of a converted graph (8 per MobileNetV3 image): the fewest Python steps from
        # tensors to kernel; anything else, or torch.compile tracing, takes the checked path below.
        if x.__class__ is torch.Tensor and x.dtype is torch.int8 and x.is_contiguous() and x.is_cpu and \
                gate.__class__ is torch.Tensor and gate.is_cpu and not _torch_ops.compiling():
            y = self._int8_call(x.numpy(), gate)
            if y is not NotImplemented:
                return torch.from_numpy(y)
        if not (isinstance(x, torch.Tensor) and x.dtype == torch.int8):
            return x * gate
        if not self.int8_input:
            raise ValueError("Int8ChannelMul: int8 x, but no input qparams (set_input_qparams)")
        if x.dim() != 4 or not x.is_contiguous() or not x.is_cpu:
            raise ValueError(f"Int8ChannelMul: x must be a contiguous CPU int8 NHWC tensor, got shape {tuple(x.shape)}")
        n, c = x.shape[0], x.shape[3]
        if not isinstance(gate, torch.Tensor) or gate.numel() != n * c or gate.dim() != 4 or \
                tuple(gate.shape[2:]) != (1, 1):
            raise ValueError(f"Int8ChannelMul: gate: expected shape ({n}, {c}, 1, 1), got "
                             f"{tuple(gate.shape) if isinstance(gate, torch.Tensor) else type(gate).__name__}")
        return _torch_ops.forward_residual(self, x, gate)

    def _fake_output(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, c = x.shape
        if self.int8_output:
            return x.new_empty(n, h, w, c)
        return x.new_empty(n, c, h, w, dtype=torch.float32).contiguous(memory_format=torch.channels_last)

    def _forward_impl(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[3]
        g = gate.detach().float().reshape(n, c).contiguous()
        scale, zp = self.edge_scalars("input")
        if self.int8_output:
            y = _native.C.qs8_channel_mul_nhwc(x.numpy(), scale, zp, g.numpy(), *self.edge_scalars("output"),
                                               num_threads=_native.num_threads())
            return torch.from_numpy(y)
        y = (x.float() - zp) * scale * g[:, None, None, :]
        return y.permute(0, 3, 1, 2)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._op_handle = _torch_ops.register(self)

    def extra_repr(self) -> str:
        s = []
        if self.int8_input:
            s.append(f"int8 input (scale={float(self.input_scale):.3g} zero_point={int(self.input_zero_point)})")
        if self.int8_output:
            s.append(f"int8 output (scale={float(self.output_scale):.3g} zero_point={int(self.output_zero_point)})")
        return ", ".join(s)
