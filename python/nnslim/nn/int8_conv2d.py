"""Int8Conv2d: a drop-in for nn.Conv2d with int8 weights and calibrated (static) int8 activations."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn import _row_dispatch, _torch_ops
from nnslim.nn._common import (FLOOR_MARGIN, FUSED_ACTIVATIONS, EdgeQParamsMixin, PackedWeightsMixin, activation_repr,
                                check_inference_input, check_qparams, per_channel_symmetric_int8)
from nnslim.nn._weight_view import FloatWeightMixin
from nnslim.nn.int8_linear import fold_zero_point


def _check_qmin(qmin, name: str = "output_qmin") -> int:
    if isinstance(qmin, bool) or int(qmin) != qmin or not -128 <= int(qmin) <= 0:
        raise ValueError(f"{name}: expected an integer code in [-128, 0], got {qmin!r}")
    return int(qmin)


def _pair(v) -> Tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


ACTIVATIONS = FUSED_ACTIVATIONS


def s2d_tap_weights(w: torch.Tensor) -> torch.Tensor:
    """(out, C, kh, kw) int8 weights of a stride-2 conv -> (out, ceil(kh / 2) * 64): block a holds
    w[:, c, 2a + dy, 2b + dx] at byte b * 4C + (dy * 2 + dx) * C + c, zeros past the kernel and to 64
    (the layout qs8_conv_s2d_taps in csrc/include/nnslim/gemm.h describes)."""
    out_ch, c, kh, kw = w.shape
    khs, kws = (kh + 1) // 2, (kw + 1) // 2
    if kws * 4 * c > 64:
        raise ValueError(f"s2d_tap_weights: ceil(kernel_w / 2) * 4 * in_channels must be <= 64, got {kws * 4 * c}")
    wp = torch.zeros(out_ch, c, 2 * khs, 2 * kws, dtype=w.dtype)
    wp[:, :, :kh, :kw] = w
    # (o, c, a, dy, b, dx) -> (o, a, b, dy, dx, c)
    wp = wp.reshape(out_ch, c, khs, 2, kws, 2).permute(0, 2, 4, 3, 5, 1).reshape(out_ch, khs, kws * 4 * c)
    blocks = torch.zeros(out_ch, khs, 64, dtype=w.dtype)
    blocks[:, :, :kws * 4 * c] = wp
    return blocks.reshape(out_ch, khs * 64).contiguous()


class Int8Conv2d(PackedWeightsMixin, EdgeQParamsMixin, FloatWeightMixin, nn.Module):
    """Convolution on nnslim's int8 kernels: the input is quantized once with a calibrated scale / zero
    point (NHWC internally); depthwise convs (groups == channels) run the direct depthwise kernel,
    grouped convs with a few channels per group (ResNeXt, RegNet) the direct grouped kernel where it
    takes their geometry (``qs8_gconv_supported``), the rest gather each block of output pixels
    (im2col, skipped for 1x1) into the int8 GEMM, one GEMM per group. The epilogue
    dequantizes, adds the bias, then (optionally) a residual operand and an activation:
    ``act(conv(x) + residual)`` with act in none / relu / clamp(lo, hi) (ReLU6, Hardtanh) / hardswish /
    hardsigmoid. ``residual=True`` makes ``forward(x, residual)`` take the other operand of a fused add.

    Inside a graph-converted model, activations between int8 nodes stay int8: ``int8_output=True``
    returns an int8 NHWC tensor (N, OH, OW, C) requantized with ``output_scale`` / ``output_zero_point``,
    which the next Int8Conv2d reads as its input (with equal input qparams) or, with
    ``int8_residual=True``, as its residual (``residual_scale`` / ``residual_zero_point``).

    Output: float32 NCHW-shaped, in channels_last memory format (no transpose back; the next
    Int8Conv2d reads it directly). Buffers: ``weight_int8`` (out, in/groups, kh, kw) int8 in PyTorch
    layout, ``weight_scale`` (out,), ``bias``, ``input_scale``, ``input_zero_point``.
    """

    bits = 8

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, relu: bool = False, activation: str = "none",
                 act_lo: float = 0.0, act_hi: float = 0.0, residual: bool = False, int8_output: bool = False,
                 int8_residual: bool = False, output_qmin: int = -128, input_qmin: int = -128):
        super().__init__()
        if int8_residual and not residual:
            raise ValueError("int8_residual=True needs residual=True")
        self.output_qmin = _check_qmin(output_qmin)
        # The least code the input holds: 0 for 7-bit activations. Only a hint to the packer (which
        # AVX2 layout is faster: see _packs_signed); codes below it still compute exactly.
        self.input_qmin = _check_qmin(input_qmin, "input_qmin")
        if relu:
            if activation not in ("none", "relu"):
                raise ValueError(f"relu=True conflicts with activation={activation!r}")
            activation = "relu"
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        if activation == "clamp" and not act_lo <= act_hi:
            raise ValueError(f"activation 'clamp': expected act_lo <= act_hi, got {act_lo}, {act_hi}")
        self.activation, self.act_lo, self.act_hi = activation, float(act_lo), float(act_hi)
        self.residual = bool(residual)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        kh, kw = self.kernel_size
        self.register_buffer("weight_int8", torch.zeros(out_channels, in_channels // groups, kh, kw, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_channels))
        if bias:
            self.register_buffer("bias", torch.zeros(out_channels))
        else:
            self.bias = None
        self.register_buffer("input_scale", torch.tensor(1.0))
        self.register_buffer("input_zero_point", torch.tensor(0, dtype=torch.int32))
        self.int8_output, self.int8_residual = False, False
        if int8_output:
            self._add_edge_buffers("output")
        if int8_residual:
            self._add_edge_buffers("residual")
        self._init_packing()

    def init_kwargs(self) -> dict:
        return dict(in_channels=self.in_channels, out_channels=self.out_channels, kernel_size=self.kernel_size,
                    stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups,
                    bias=self.bias is not None, activation=self.activation, act_lo=self.act_lo, act_hi=self.act_hi,
                    residual=self.residual, int8_output=self.int8_output, int8_residual=self.int8_residual,
                    output_qmin=self.output_qmin, input_qmin=self.input_qmin)

    @property
    def relu(self) -> bool:
        return self.activation == "relu"

    @property
    def depthwise(self) -> bool:
        return self.groups == self.in_channels == self.out_channels and self.groups > 1

    @property
    def grouped_direct(self) -> bool:
        """Whether this conv runs the direct grouped kernel (csrc/dispatch/qs8-gconv.cc) instead of
        one GEMM per group."""
        return not self.depthwise and _native.C.qs8_gconv_supported(self.in_channels, self.out_channels, self.groups)

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
        fused = dict(activation=getattr(conv, "activation", "none"), act_lo=getattr(conv, "act_lo", 0.0),
                     act_hi=getattr(conv, "act_hi", 0.0), residual=getattr(conv, "residual", False))
        if relu:
            if fused["activation"] != "none":
                raise ValueError(f"relu=True conflicts with the conv's fused activation {fused['activation']!r}")
            fused["activation"] = "relu"
        bits = getattr(config, "activation_bits", 8)
        mod = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  conv.groups, bias=conv.bias is not None, input_qmin=0 if bits == 7 else -128, **fused)
        q, scale = per_channel_symmetric_int8(conv.weight)
        mod.weight_int8.copy_(q)
        mod.weight_scale.copy_(scale)
        if conv.bias is not None:
            mod.bias.copy_(conv.bias.detach().float())
        mod.set_input_qparams(*input_qparams)
        mod.pack()
        return mod

    def set_input_qparams(self, scale: float, zero_point: int) -> None:
        check_qparams("input", scale, zero_point)
        self.input_scale.fill_(float(scale))
        self.input_zero_point.fill_(int(zero_point))
        self._packed = None

    def set_output_qparams(self, scale: float, zero_point: int, qmin: int = -128) -> None:
        """Makes the output int8 NHWC with these qparams (the next int8 node's input quantization), its
        codes clamped to [qmin, 127]: qmin 0 for 7-bit activations (Int8StaticConfig.activation_bits)."""
        qmin = _check_qmin(qmin)
        if not qmin <= int(zero_point):
            raise ValueError(f"set_output_qparams: zero_point {int(zero_point)} lies below qmin {qmin}")
        # Hardswish cannot take the clamp the bound kernel adds for qmin (_bind_kernel): its least
        # value, -0.375, must itself quantize to qmin or above (with a margin for rounding).
        if qmin > -128 and self.activation == "hardswish" and \
                -0.375 / float(scale) + int(zero_point) < qmin - 0.5 + FLOOR_MARGIN:
            raise ValueError(f"set_output_qparams: Hardswish's least output -0.375 falls below code {qmin} with "
                             f"scale {float(scale):.4g}, zero_point {int(zero_point)}; widen the range down to -0.375")
        self._set_edge_qparams("output", scale, zero_point)
        self.output_qmin = qmin

    def set_residual_qparams(self, scale: float, zero_point: int) -> None:
        """The residual operand arrives int8 NHWC in these qparams (another int8 node's output)."""
        if not self.residual:
            raise ValueError("set_residual_qparams: this conv fuses no residual add")
        self._set_edge_qparams("residual", scale, zero_point)

    def _set_edge_qparams(self, edge: str, scale: float, zero_point: int) -> None:
        super()._set_edge_qparams(edge, scale, zero_point)
        self._packed = None  # the bound kernel call holds the qparams

    def pack(self):
        with self._pack_lock:
            if self._packed is None:
                g, cout_g = self.groups, self.out_channels // self.groups
                if self.depthwise:
                    packed = _native.C.PackedQs8DwWeights(self.weight_int8[:, 0].contiguous().numpy())
                elif self.grouped_direct:
                    packed = _native.C.PackedQs8GroupedWeights(self.weight_int8.contiguous().numpy(), self.groups)
                elif self._s2d_taps():
                    # Stride-2 convs over few channels on AMX (RGB stems): the stride-1 conv over the
                    # input's 2x2 space-to-depth image; K block a = w[2a + dy][2b + dx][c] at byte
                    # b * 4C + (dy * 2 + dx) * C + c (qs8_conv_s2d_taps in gemm.h), zeros past the kernel.
                    packed = [_native.C.PackedQs8Weights(s2d_tap_weights(self.weight_int8).numpy(), "amx")]
                elif self._row_taps():
                    # Few input channels on AMX (RGB stems): K block kh = tap row kh's kw * c weights, then
                    # zeros to 64; the kernel reads each block straight from the padded input, no im2col.
                    kh, kw = self.kernel_size
                    w = torch.zeros(self.out_channels, kh, 64, dtype=torch.int8)
                    w[:, :, :kw * self.in_channels] = self.weight_int8.permute(0, 2, 3, 1).reshape(self.out_channels, kh, -1)
                    packed = [_native.C.PackedQs8Weights(w.reshape(self.out_channels, -1).numpy(), "amx")]
                else:
                    # (out, in/g, kh, kw) -> per group (out/g, kh * kw * in/g): the (kh, kw, c) order of NHWC im2col rows.
                    w = self.weight_int8.permute(0, 2, 3, 1).reshape(self.out_channels, -1)
                    isa = _row_dispatch.conv_gemm_kernel(_native.C.selected_isa(), w.shape[1], cout_g)
                    signed = self._packs_signed(isa)
                    packed = [_native.C.PackedQs8Weights(w[i * cout_g:(i + 1) * cout_g].contiguous().numpy(), isa,
                                                         signed_activations=signed) for i in range(g)]
                self._bias_folded = fold_zero_point(self.bias, self.weight_int8, self.weight_scale,
                                                    float(self.input_scale), int(self.input_zero_point))
                # Everything but the activations bound once, not read per call: tensor -> float and
                # module attribute lookups cost microseconds, which add up over the ~50 int8 nodes of
                # a MobileNet at batch 1.
                self._packed_run = self._bind_kernel(packed)
                self._packed = packed
            return self._packed

    def _packs_signed(self, isa: str) -> bool:
        """Whether the im2col / 1x1 GEMM weights are packed for signed activations (PackHint in
        csrc/include/nnslim/gemm.h: AVX2's s16 layout, 1.05-1.14x its s8 sign kernel on 8-bit
        activations at K >= 64, twice the memory): the input holds negative codes (input_qmin < 0) and
        the reduction is >= 64 long (at shorter K, MobileNets' RGB stems and narrow 1x1 convs, s16
        measured 0.75-0.99x), except for convs that can run Winograd on `isa`
        (qs8_winograd_candidate, the C++ rule), which read weights of their own."""
        kh, kw = self.kernel_size
        k = kh * kw * self.in_channels // self.groups
        if self.input_qmin >= 0 or k < 64:
            return False
        return not _native.C.qs8_winograd_candidate(tuple(self.kernel_size), tuple(self.stride), tuple(self.dilation),
                                                    self.groups, self.in_channels, isa)

    def _s2d_taps(self) -> bool:
        """Whether this conv packs space-to-depth tap weights (qs8_conv_s2d_taps in gemm.h): AMX
        selected, one group, stride 2, no dilation, kernel_h >= 2, ceil(kw / 2) * 4 * in_channels <= 64,
        and a K (ceil(kh / 2) * 64) that differs from the im2col one."""
        kh, kw = self.kernel_size
        return _native.C.selected_isa() == "amx" and self.groups == 1 and tuple(self.stride) == (2, 2) and \
            tuple(self.dilation) == (1, 1) and kh >= 2 and (kw + 1) // 2 * 4 * self.in_channels <= 64 and \
            (kh + 1) // 2 * 64 != kh * kw * self.in_channels

    def _row_taps(self) -> bool:
        """Whether this conv packs row-tap weights (qs8_conv_row_taps in gemm.h): AMX selected, one
        group, kw * in_channels < 64, no W dilation, and a kernel window of more than one pixel."""
        kh, kw = self.kernel_size
        return _native.C.selected_isa() == "amx" and self.groups == 1 and kw * self.in_channels < 64 and \
            self.dilation[1] == 1 and kh * kw > 1

    def _bind_kernel(self, packed):
        """fn(x_nhwc, residual_or_None, num_threads) -> numpy output, with every other argument bound."""
        C = _native.C
        scale, zp = float(self.input_scale), int(self.input_zero_point)
        wscale = self.weight_scale.numpy()
        bias = None if self._bias_folded is None else self._bias_folded.numpy()
        out_scale, out_zp = (float(self.output_scale), int(self.output_zero_point)) if self.int8_output else (None, 0)
        res_scale, res_zp = (float(self.residual_scale), int(self.residual_zero_point)) if self.int8_residual else (1.0, 0)
        act, lo, hi = self.activation, self.act_lo, self.act_hi
        if self.int8_output and self.output_qmin > -128:
            # Codes below qmin clamp as the activation's lower bound, (qmin - zp) * scale, which the
            # epilogue rounds to exactly qmin - zp. ReLU (0) and Hardsigmoid already stay above it
            # (zp >= qmin); a Hardswish edge's range reaches its -0.375 (graph_static._ACTIVATION_FLOOR).
            floor = (self.output_qmin - out_zp) * out_scale
            if act == "none":
                act, lo, hi = "clamp", floor, math.inf
            elif act == "clamp":
                lo = max(lo, floor)
        stride, padding, dilation = self.stride, self.padding, self.dilation
        if self.depthwise or self.grouped_direct:
            plan = C.Qs8DwConv2dPlan if self.depthwise else C.Qs8GconvConv2dPlan
            return plan(packed, stride, padding, dilation, scale, zp, wscale, bias, act, lo, hi, res_scale, res_zp,
                        out_scale, out_zp)
        # ReLU without a residual stays in the GEMM epilogue (no extra pass over the output).
        gemm_relu = act == "relu" and not self.residual
        act = "none" if gemm_relu else act
        # A plan: the arguments are parsed and checked once, not on every call.
        return C.Qs8Conv2dPlan(packed, self.kernel_size, stride, padding, dilation, self.groups, scale, zp, wscale,
                               bias, gemm_relu, act, lo, hi, res_scale, res_zp, out_scale, out_zp)

    def _int8_call(self, x, residual=None):
        """The lowered graph's int8 hand-off (nnslim.graph.lowered): x (and an int8 residual) as numpy
        NHWC arrays from the previous int8 nodes -> the kernel's int8 NHWC array, or the fp32 output as
        forward returns it. NotImplemented where forward must decide (it raises the precise error)."""
        if self._packed is None or x.__class__ is not np.ndarray or \
                (residual.__class__ is not np.ndarray if self.int8_residual else residual is not None or self.residual):
            return NotImplemented
        y = self._packed_run(x, residual, torch.get_num_threads())
        return y if self.int8_output else torch.from_numpy(y).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        # The int8 edge of a converted graph, called ~50 times per MobileNet image: the fewest Python
        # steps from tensor to kernel (the kernel binding checks shapes, residual included). Anything
        # else, or torch.compile tracing, takes the checked path below.
        if self._packed is not None and x.__class__ is torch.Tensor and x.dtype is torch.int8 and \
                (residual is None or (residual.__class__ is torch.Tensor and residual.dtype is torch.int8)) and \
                x.dim() == 4 and x.shape[3] == self.in_channels and x.is_contiguous() and x.is_cpu and \
                not _torch_ops.compiling():
            y = self._int8_call(x.numpy(), None if residual is None else residual.contiguous().numpy())
            if y is not NotImplemented:
                return torch.from_numpy(y) if self.int8_output else y
        # An fp32 NCHW-shaped input already in NHWC memory (channels_last, or 1 x 1 spatial: the
        # squeeze-excite convs after the pool, 16 per MobileNetV3 image) goes straight in as well.
        if self._packed is not None and x.__class__ is torch.Tensor and x.dtype is torch.float32 and residual is None \
                and not self.residual and x.dim() == 4 and x.shape[1] == self.in_channels and x.is_cpu and \
                not x.requires_grad and not _torch_ops.compiling():
            nhwc = x.permute(0, 2, 3, 1)
            if nhwc.is_contiguous():
                y = torch.from_numpy(self._packed_run(nhwc.numpy(), None, torch.get_num_threads()))
                return y if self.int8_output else y.permute(0, 3, 1, 2)
        if isinstance(x, torch.Tensor) and x.dim() != 4:
            raise ValueError(f"Int8Conv2d: expected a 4-D NCHW input, got shape {tuple(x.shape)}")
        if isinstance(x, torch.Tensor) and x.dtype == torch.int8:  # an int8 node's NHWC output
            if x.shape[3] != self.in_channels or not x.is_contiguous():
                raise ValueError(f"Int8Conv2d: an int8 input must be a contiguous NHWC tensor with "
                                 f"{self.in_channels} channels (another int8 node's output), got shape {tuple(x.shape)}")
        else:
            check_inference_input("Int8Conv2d", x, self.in_channels, dim=1)
        if self.residual != (residual is not None):
            raise ValueError("Int8Conv2d: " + ("this conv fuses a residual add; call it with (x, residual)"
                                               if self.residual else "residual given, but this conv was built "
                                               "without residual=True"))
        if residual is None:
            return _torch_ops.forward(self, x)
        if not isinstance(residual, torch.Tensor) or residual.dim() != 4:
            raise ValueError("Int8Conv2d: residual must be a 4-D NCHW tensor of the output's shape")
        if (residual.dtype == torch.int8) != self.int8_residual:
            raise ValueError("Int8Conv2d: residual: expected " + ("an int8 NHWC tensor (int8_residual=True)"
                                                                  if self.int8_residual else "a float tensor"))
        return _torch_ops.forward_residual(self, x, residual)

    def _output_hw(self, h: int, w: int):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        return (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1

    @staticmethod
    def _input_hw(x: torch.Tensor):
        return (x.shape[1], x.shape[2]) if x.dtype == torch.int8 else (x.shape[2], x.shape[3])

    def _fake_output(self, x: torch.Tensor) -> torch.Tensor:
        oh, ow = self._output_hw(*self._input_hw(x))
        if self.int8_output:
            return x.new_empty(x.shape[0], oh, ow, self.out_channels, dtype=torch.int8)
        dtype = torch.float32 if x.dtype == torch.int8 else x.dtype
        return x.new_empty(x.shape[0], self.out_channels, oh, ow, dtype=dtype).contiguous(memory_format=torch.channels_last)

    def _forward_impl(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not x.is_cpu:
            raise NotImplementedError("Int8Conv2d runs on the CPU only")
        int8_in = x.dtype == torch.int8
        out_dtype = torch.float32 if int8_in else x.dtype
        if int8_in:
            nhwc = x
        else:
            if x.dtype != torch.float32:
                x = x.float()
            nhwc = x.permute(0, 2, 3, 1)
            if not nhwc.is_contiguous():
                nhwc = nhwc.contiguous()
        if self._packed is None:  # the lock only when packing
            self.pack()
        res = None
        if residual is not None:
            oh, ow = self._output_hw(*self._input_hw(x))
            if residual.dtype == torch.int8:
                want = (x.shape[0], oh, ow, self.out_channels)
                res = residual.contiguous()
            else:
                want = (x.shape[0], self.out_channels, oh, ow)
                res = residual.float().contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
            if tuple(residual.shape) != want:
                raise ValueError(f"Int8Conv2d: residual: expected shape {want}, got {tuple(residual.shape)}")
            res = res.numpy()
        y = torch.from_numpy(self._packed_run(nhwc.numpy(), res, _native.num_threads()))
        if self.int8_output:
            return y
        out = y.permute(0, 3, 1, 2)
        return out if out_dtype == torch.float32 else out.to(out_dtype)

    def dequantized_weight(self) -> torch.Tensor:
        """The float weight (out, in / groups, kh, kw) the int8 one stands for."""
        return self.weight_int8.float() * self.weight_scale.reshape(-1, 1, 1, 1)

    def _float_weight_shape(self):
        return tuple(self.weight_int8.shape)

    def extra_repr(self) -> str:
        if self._packed is None:
            isa = "unpacked"
        else:
            isa = f"dwconv-{self._packed.isa}" if self.depthwise else \
                f"gconv-{self._packed.isa}" if self.grouped_direct else self._packed[0].isa
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}, "
                f"bits=8 (weights per-channel, activations static scale={float(self.input_scale):.3g} "
                f"zero_point={int(self.input_zero_point)}){self._fused_repr()}, kernel={isa}")

    def _fused_repr(self) -> str:
        s = activation_repr(self.activation, self.act_lo, self.act_hi)
        s += (", + int8 residual" if self.int8_residual else ", + residual") if self.residual else ""
        codes = f" codes=[{self.output_qmin}, 127]" if self.output_qmin > -128 else ""
        return s + (f", int8 output (scale={float(self.output_scale):.3g} zero_point={int(self.output_zero_point)}"
                    f"{codes})" if self.int8_output else "")
