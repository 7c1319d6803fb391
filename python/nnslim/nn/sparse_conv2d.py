"""SparseConv2d: a drop-in for a pruned nn.Conv2d (groups=1) that skips the zeros for real."""
from __future__ import annotations

from typing import Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from nnslim import _native
from nnslim.nn import _torch_ops
from nnslim.nn._sparse_common import (CsrModuleMixin, check_sparse_input, dense_to_csr, effective_weight,
                                      to_float_output)

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _pair(v, name: str) -> Tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or not all(isinstance(i, int) for i in t):
        raise ValueError(f"{name}: expected an int or a pair of ints, got {v!r}")
    return int(t[0]), int(t[1])


class SparseConv2d(CsrModuleMixin, nn.Module):
    """2-D convolution (groups=1) with the weight stored as CSR over (out_channels, in_channels*kh*kw):
    the work is proportional to the weight's nonzeros. Padding and stride are resolved by one copy of
    the input (no im2col); 1x1 stride-1 unpadded layers read the input directly.

    Same constructor arguments and forward contract as nn.Conv2d (NCHW or unbatched CHW input,
    ``padding`` int/pair/'same'/'valid', any ``padding_mode``); groups must be 1. Buffers:
    ``indptr``, ``indices``, ``values`` (CSR), ``bias``. Inference only, CPU only.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding: Union[int, Tuple[int, int], str] = 0, dilation=1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros"):
        super().__init__()
        if groups != 1:
            raise ValueError(f"SparseConv2d supports groups=1 only, got groups={groups}; depthwise and grouped "
                             "convolutions stay dense")
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"in_channels and out_channels must be positive, got {in_channels}, {out_channels}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode: expected one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), 1
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.dilation = _pair(dilation, "dilation")
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding: expected 'same', 'valid', an int or a pair, got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(f"kernel_size, stride and dilation must be >= 1, got {self.kernel_size}, "
                             f"{self.stride}, {self.dilation}")
        if not isinstance(self.padding, str) and min(self.padding) < 0:
            raise ValueError(f"padding: must be >= 0, got {self.padding}")
        self._init_csr(self.out_channels, bias)

    def init_kwargs(self) -> dict:
        return dict(in_channels=self.in_channels, out_channels=self.out_channels, kernel_size=self.kernel_size,
                    stride=self.stride, padding=self.padding, dilation=self.dilation, groups=1,
                    bias=self.bias is not None, padding_mode=self.padding_mode)

    @classmethod
    def from_dense(cls, conv: nn.Conv2d) -> "SparseConv2d":
        """CSR of ``conv``'s effective weight (pruning masks applied; exact zeros dropped)."""
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"SparseConv2d.from_dense expects an nn.Conv2d, got {type(conv).__name__}")
        if conv.groups != 1:
            raise ValueError(f"SparseConv2d.from_dense: groups={conv.groups} (depthwise/grouped) is not supported; "
                             "only groups=1 convolutions can be converted, keep this layer dense")
        mod = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  1, bias=conv.bias is not None, padding_mode=conv.padding_mode)
        mod._set_csr(*dense_to_csr(effective_weight(conv).reshape(conv.out_channels, -1)))
        if conv.bias is not None:
            mod.bias.copy_(conv.bias.detach().float().cpu())
        mod.op()
        return mod

    def _dense_shape(self):
        return self.out_channels, self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def _weight_shape(self):
        return (self.out_channels, self.in_channels, *self.kernel_size)

    def _pads(self) -> Tuple[int, int, int, int]:
        """(top, bottom, left, right); 'same' puts the odd pixel at the bottom/right, as torch does."""
        if self.padding == "valid":
            return 0, 0, 0, 0
        if self.padding == "same":
            out = []
            for d, k in zip(self.dilation, self.kernel_size):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]
            return tuple(out)
        ph, pw = self.padding
        return ph, ph, pw, pw

    def _build_op(self):
        indptr, indices, values = self._np_csr()
        pads = (0, 0, 0, 0) if self.padding_mode != "zeros" else self._pads()
        return _native.C.SparseConv2dF32(indptr, indices, values, self._weight_shape(), self.stride, pads,
                                         self.dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dim() not in (3, 4):
            raise ValueError(f"SparseConv2d: expected a 4-D NCHW (or unbatched 3-D CHW) input, got shape "
                             f"{tuple(x.shape)}")
        check_sparse_input("SparseConv2d", x, self.in_channels, -3)
        return _torch_ops.forward(self, x)

    def _fake_output(self, x: torch.Tensor) -> torch.Tensor:
        t, b, l, r = self._pads()
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        ho = (x.shape[-2] + t + b - dh * (kh - 1) - 1) // sh + 1
        wo = (x.shape[-1] + l + r - dw * (kw - 1) - 1) // sw + 1
        return x.new_empty(*x.shape[:-3], self.out_channels, ho, wo)

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        unbatched = x.dim() == 3
        xin = x.detach()
        if unbatched:
            xin = xin.unsqueeze(0)
        if self.padding_mode != "zeros":
            t, b, l, r = self._pads()
            xin = F.pad(xin, (l, r, t, b), mode=self.padding_mode)
        if xin.dtype != torch.float32:
            xin = xin.float()
        xin = xin.contiguous()
        op, bias = self._built()
        y = op.forward(xin.numpy(), bias, _native.num_threads())
        return to_float_output(y[0] if unbatched else y, y.shape[1:] if unbatched else y.shape, x.dtype)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
             f"padding={self.padding}, dilation={self.dilation}")
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return (s + f", bias={self.bias is not None}, sparsity={self.sparsity:.1%} (nnz={self.nnz}), "
                f"kernel={self._kernel_repr()}")
