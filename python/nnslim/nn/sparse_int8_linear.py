"""SparseInt8Linear: a drop-in for a pruned nn.Linear with int8 weights stored as 4x1 blocks, so that
pruning and quantization compound: the int8 kernel skips the zero blocks."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn import _torch_ops
from nnslim.nn._common import (Int8LinearCommon, PackedWeightsMixin, as_float32_rows, check_inference_input,
                               per_channel_symmetric_int8)
from nnslim.nn._weight_view import FloatWeightMixin

BLOCK_ROWS = 4
_BLOCK_BUFFERS = ("block_indptr", "block_indices", "block_values")


class SparseInt8Linear(Int8LinearCommon, PackedWeightsMixin, FloatWeightMixin, nn.Module):
    """``y = x @ dequant(W)^T + b`` with int8 weights (per output channel scales) kept as blocks of 4
    consecutive output rows x 1 input column; only blocks holding a nonzero are stored and multiplied.
    Activations are int8, quantized per row at run time (default) or with a calibrated scale / zero
    point (``static=True``); results equal the dense ``Int8Linear``'s on the same weights (bit for bit
    up to in_features = 65536; beyond, the dense layer adds per-65536-column partial sums in fp32 and
    the two differ by rounding). in_features is limited to 131071 (exact int32 sums).

    Pruning in "4x1" blocks (``PruneConfig(pattern="4x1")``) makes every stored block full; other
    sparsity also works (a block stores its zeros), with less gain.

    Buffers (the portable form saved in state_dicts): ``block_indptr`` (ceil(out / 4) + 1,) int64,
    ``block_indices`` (nblocks,) int32, ``block_values`` (nblocks, 4) int8, ``weight_scale`` (out,)
    float32, ``bias`` (out,) or absent; ``load_state_dict`` accepts any number of blocks.
    """

    routes_f_linear = True  # F.linear(x, self.weight, self.bias) runs forward (nn/_weight_view.py)

    bits = 8

    def __init__(self, in_features: int, out_features: int, bias: bool = True, static: bool = False,
                 relu: bool = False):
        super().__init__()
        self._init_int8_linear(in_features, out_features, bias, static, relu)
        nbr = (self.out_features + BLOCK_ROWS - 1) // BLOCK_ROWS
        self.register_buffer("block_indptr", torch.zeros(nbr + 1, dtype=torch.int64))
        self.register_buffer("block_indices", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("block_values", torch.zeros(0, BLOCK_ROWS, dtype=torch.int8))
        self._init_packing()

    @classmethod
    def from_dense(cls, linear: nn.Module, input_qparams: Optional[Tuple[float, int]] = None,
                   relu: bool = False) -> "SparseInt8Linear":
        """From an ``nn.Linear`` (pruning masks applied, weights quantized per output channel as
        ``Int8Linear.from_float`` does) or an ``Int8Linear`` (its int8 weights, scales and activation
        mode taken as they are). ``input_qparams=(scale, zero_point)`` makes a static layer."""
        from nnslim.nn.int8_linear import Int8Linear
        from nnslim.nn._sparse_common import effective_weight

        if isinstance(linear, Int8Linear):
            static = linear.static if input_qparams is None else True
            mod = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, static=static,
                      relu=linear.relu or relu)
            q, scale = linear.weight_int8, linear.weight_scale
            if input_qparams is None and linear.static:
                input_qparams = (float(linear.input_scale), int(linear.input_zero_point))
        elif isinstance(linear, nn.Linear):
            mod = cls(linear.in_features, linear.out_features, bias=linear.bias is not None,
                      static=input_qparams is not None, relu=relu)
            q, scale = per_channel_symmetric_int8(effective_weight(linear))
        else:
            raise TypeError(f"SparseInt8Linear.from_dense expects an nn.Linear or Int8Linear, got {type(linear).__name__}")
        mod.set_int8_weight(q, scale)
        if linear.bias is not None:
            mod.bias.copy_(linear.bias.detach().float().cpu())
        if input_qparams is not None:
            mod.set_input_qparams(*input_qparams)
        mod.pack()
        return mod

    def set_int8_weight(self, weight_int8: torch.Tensor, weight_scale: torch.Tensor) -> None:
        """Stores a dense (out, in) int8 weight as its nonzero 4x1 blocks."""
        if tuple(weight_int8.shape) != (self.out_features, self.in_features) or weight_int8.dtype != torch.int8:
            raise ValueError(f"weight_int8: expected int8 of shape {(self.out_features, self.in_features)}, "
                             f"got {weight_int8.dtype} {tuple(weight_int8.shape)}")
        indptr, indices, values = _native.C.bsr4_from_dense(weight_int8.detach().cpu().contiguous().numpy())
        self.block_indptr = torch.from_numpy(indptr)
        self.block_indices = torch.from_numpy(indices)
        self.block_values = torch.from_numpy(values)
        self.weight_scale.copy_(weight_scale.detach().float().cpu())
        self._packed = None

    @property
    def nblocks(self) -> int:
        return int(self.block_indices.numel())

    @property
    def block_density(self) -> float:
        """Stored blocks / all blocks."""
        total = self.block_indptr.numel() - 1
        return self.nblocks / (total * self.in_features) if total else 0.0

    @property
    def nnz(self) -> int:
        """Nonzero weights (zeros stored inside blocks not counted)."""
        return int((self.block_values != 0).sum())

    def _dense_shape(self):
        return self.out_features, self.in_features

    @property
    def sparsity(self) -> float:
        """Fraction of zero weights (zeros stored inside blocks count as zeros)."""
        return 1.0 - self.nnz / (self.out_features * self.in_features)

    def weight_int8_dense(self) -> torch.Tensor:
        """The (out, in) int8 weight the blocks encode."""
        nbr = self.block_indptr.numel() - 1
        counts = (self.block_indptr[1:] - self.block_indptr[:-1]).long()
        block_row = torch.repeat_interleave(torch.arange(nbr), counts)
        dense = torch.zeros(nbr * BLOCK_ROWS, self.in_features, dtype=torch.int8)
        for r in range(BLOCK_ROWS):
            dense[block_row * BLOCK_ROWS + r, self.block_indices.long()] = self.block_values[:, r]
        return dense[: self.out_features]

    def dequantized_weight(self) -> torch.Tensor:
        return self.weight_int8_dense().float() * self.weight_scale[:, None]

    def _float_weight_shape(self):
        return (self.out_features, self.in_features)

    def pack(self):
        """Packs the blocks for the selected kernel path (NNSLIM_ISA or the best available)."""
        with self._pack_lock:
            if self._packed is None:
                op = _native.C.SparseInt8LinearOp(*(getattr(self, n).contiguous().numpy() for n in _BLOCK_BUFFERS),
                                                  (self.out_features, self.in_features))
                if self.static:
                    from nnslim.nn.int8_linear import fold_zero_point

                    self._bias_folded = fold_zero_point(self.bias, self.weight_int8_dense(), self.weight_scale,
                                                        float(self.input_scale), int(self.input_zero_point))
                self._packed = op
            return self._packed

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The number of blocks differs between weights: take the incoming sizes.
        for name in ("block_indices", "block_values"):
            t = state_dict.get(prefix + name)
            if isinstance(t, torch.Tensor) and t.shape != getattr(self, name).shape:
                setattr(self, name, torch.empty(t.shape, dtype=getattr(self, name).dtype))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_inference_input("SparseInt8Linear", x, self.in_features)
        if x.device.type != "cpu":
            raise RuntimeError(f"SparseInt8Linear runs on CPU inputs; got an input on {x.device}")
        return _torch_ops.forward(self, x)

    _fake_output = _torch_ops.linear_fake_output

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        rows = as_float32_rows(x, self.in_features)
        if rows.shape[0] == 0:
            return torch.empty(*lead, self.out_features, dtype=x.dtype)
        op = self.pack()
        return self._run_rows(op, rows, lead, x.dtype)

    def extra_repr(self) -> str:
        isa = self._packed.isa if self._packed is not None else "unpacked"
        act = self._activation_repr()
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"blocks=4x1 ({self.block_density:.1%} of blocks stored), activations={act}"
                f"{', relu' if self.relu else ''}, kernel=qs8-spmm {isa}")
