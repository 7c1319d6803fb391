"""Int8Conv2d: a drop-in for nn.Conv2d with int8 weights and calibrated (static) int8 activations."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn import _torch_ops
from nnslim.nn._common import PackedWeightsMixin, check_inference_input, per_channel_symmetric_int8
from nnslim.nn.int8_linear import fold_zero_point


def _pair(v) -> Tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class Int8Conv2d(PackedWeightsMixin, nn.Module):
    """Convolution on nnslim's int8 GEMM: the input is quantized once with a calibrated scale / zero
    point (NHWC internally), each block of output pixels is gathered (im2col, skipped for 1x1) and
    multiplied by per-channel int8 weights with a fused dequantize + bias (+ ReLU) epilogue.

    Output: float32 NCHW-shaped, in channels_last memory format (no transpose back; the next
    Int8Conv2d reads it directly). Buffers: ``weight_int8`` (out, in/groups, kh, kw) int8 in PyTorch
    layout, ``weight_scale`` (out,), ``bias``, ``input_scale``, ``input_zero_point``.
    """

    bits = 8

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, relu: bool = False):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.relu = bool(relu)
        kh, kw = self.kernel_size
        self.register_buffer("weight_int8", torch.zeros(out_channels, in_channels // groups, kh, kw, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_channels))
        if bias:
            self.register_buffer("bias", torch.zeros(out_channels))
        else:
            self.bias = None
        self.register_buffer("input_scale", torch.tensor(1.0))
        self.register_buffer("input_zero_point", torch.tensor(0, dtype=torch.int32))
        self._init_packing()

    def init_kwargs(self) -> dict:
        return dict(in_channels=self.in_channels, out_channels=self.out_channels, kernel_size=self.kernel_size,
                    stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups,
                    bias=self.bias is not None, relu=self.relu)

    @classmethod
    def from_float(cls, conv: nn.Conv2d, config=None, input_qparams: Optional[Tuple[float, int]] = None,
                   relu: bool = False) -> "Int8Conv2d":
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"Int8Conv2d.from_float expects an nn.Conv2d, got {type(conv).__name__}")
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(f"Int8Conv2d supports numeric zero padding only, got padding={conv.padding!r}, "
                             f"padding_mode={conv.padding_mode!r}")
        if input_qparams is None:
            raise ValueError("Int8Conv2d needs input_qparams=(scale, zero_point) from calibration "
                             "(use nnslim.quantize(model, 'int8_static', calibration_data=...))")
        mod = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  conv.groups, bias=conv.bias is not None, relu=relu)
        q, scale = per_channel_symmetric_int8(conv.weight)
        mod.weight_int8.copy_(q)
        mod.weight_scale.copy_(scale)
        if conv.bias is not None:
            mod.bias.copy_(conv.bias.detach().float())
        mod.set_input_qparams(*input_qparams)
        mod.pack()
        return mod

    def set_input_qparams(self, scale: float, zero_point: int) -> None:
        if not (scale > 0 and torch.isfinite(torch.tensor(scale))) or not -128 <= int(zero_point) <= 127:
            raise ValueError(f"input qparams: expected scale > 0 and zero_point in [-128, 127], got {scale}, {zero_point}")
        self.input_scale.fill_(float(scale))
        self.input_zero_point.fill_(int(zero_point))
        self._packed = None

    def pack(self):
        with self._pack_lock:
            if self._packed is None:
                g, cout_g = self.groups, self.out_channels // self.groups
                # (out, in/g, kh, kw) -> per group (out/g, kh * kw * in/g): the (kh, kw, c) order of NHWC im2col rows.
                w = self.weight_int8.permute(0, 2, 3, 1).reshape(self.out_channels, -1)
                packed = [_native.C.PackedQs8Weights(w[i * cout_g:(i + 1) * cout_g].contiguous().numpy())
                          for i in range(g)]
                self._bias_folded = fold_zero_point(self.bias, self.weight_int8, self.weight_scale,
                                                    float(self.input_scale), int(self.input_zero_point))
                self._packed = packed
            return self._packed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dim() != 4:
            raise ValueError(f"Int8Conv2d: expected a 4-D NCHW input, got shape {tuple(x.shape)}")
        check_inference_input("Int8Conv2d", x, self.in_channels, dim=1)
        return _torch_ops.forward(self, x)

    def _output_hw(self, h: int, w: int):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        return (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1

    def _fake_output(self, x: torch.Tensor) -> torch.Tensor:
        oh, ow = self._output_hw(x.shape[2], x.shape[3])
        return x.new_empty(x.shape[0], self.out_channels, oh, ow).contiguous(memory_format=torch.channels_last)

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            raise NotImplementedError("Int8Conv2d runs on the CPU only")
        out_dtype = x.dtype
        nhwc = x.float().contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
        packed = self.pack()
        bias = None if self._bias_folded is None else self._bias_folded.numpy()
        y = _native.C.qs8_conv2d_static(nhwc.numpy(), packed, self.kernel_size, self.stride, self.padding,
                                        self.dilation, self.groups, float(self.input_scale),
                                        int(self.input_zero_point), self.weight_scale.numpy(), bias, self.relu,
                                        _native.num_threads())
        out = torch.from_numpy(y).permute(0, 3, 1, 2)
        return out if out_dtype == torch.float32 else out.to(out_dtype)

    def extra_repr(self) -> str:
        isa = self._packed[0].isa if self._packed is not None else "unpacked"
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}, "
                f"bits=8 (weights per-channel, activations static scale={float(self.input_scale):.3g} "
                f"zero_point={int(self.input_zero_point)}){', relu' if self.relu else ''}, kernel={isa}")
