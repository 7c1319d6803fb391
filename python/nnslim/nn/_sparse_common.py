"""What SparseLinear and SparseConv2d share: the effective weight of a (possibly pruned) layer, the
portable CSR buffers and their state_dict handling, and the lazily built native operator."""
from __future__ import annotations

import threading
from typing import Tuple

import numpy as np
import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn._common import Float32BuffersMixin
from nnslim.nn._weight_view import FloatWeightMixin

_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
CSR_BUFFERS = ("indptr", "indices", "values")


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight ``module`` computes with: ``weight_orig * weight_mask`` while pruning masks are
    attached (nnslim's or torch.nn.utils.prune's), else ``weight``; detached, float32, on the CPU."""
    from nnslim.pruning.masks import is_pruned, masked_weight

    w = masked_weight(module) if is_pruned(module) else module.weight
    return w.detach().to(device="cpu", dtype=torch.float32)


def dense_to_csr(weight2d: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(indptr int64, indices int32, values float32) of a 2-D weight's nonzeros (exact zeros dropped)."""
    w = weight2d.detach().to(device="cpu", dtype=torch.float32).contiguous()
    indptr, indices, values = _native.C.csr_from_dense(w.numpy())
    return torch.from_numpy(indptr), torch.from_numpy(indices), torch.from_numpy(values)


def csr_to_dense(indptr: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, rows: int, cols: int):
    counts = (indptr[1:] - indptr[:-1]).long()
    row_ids = torch.repeat_interleave(torch.arange(rows), counts)
    dense = torch.zeros(rows, cols, dtype=torch.float32)
    dense[row_ids, indices.long()] = values.float()
    return dense


def check_sparse_input(module_name: str, x: torch.Tensor, size: int, dim: int, allow_cuda: bool = False) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{module_name}: input must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{module_name}: input must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() == 0 or x.shape[dim] != size:
        raise ValueError(f"{module_name}: expected input with size {size} in dimension {dim}, got shape "
                         f"{tuple(x.shape)}")
    if torch.is_grad_enabled() and x.requires_grad:
        raise RuntimeError(
            f"{module_name} is inference-only (the CSR kernels have no backward); call it under "
            "torch.no_grad() / torch.inference_mode(), or fine-tune the pruned dense model and convert afterwards")
    if x.device.type != "cpu" and not (allow_cuda and x.device.type == "cuda"):
        raise RuntimeError(f"{module_name} runs on {'CPU and CUDA' if allow_cuda else 'the CPU'} inputs; "
                           f"got an input on {x.device}")


def _version(t):
    if t is None:
        return None
    # Inference tensors keep no version counter (and cannot be edited in place outside inference mode).
    return -1 if t.is_inference() else t._version


class CsrModuleMixin(Float32BuffersMixin, FloatWeightMixin):
    """CSR buffers ``indptr`` (int64), ``indices`` (int32), ``values`` (float32) and ``bias`` (or None),
    and the native operator built from them on first use. The operator is rebuilt after
    ``load_state_dict``, ``.to()``, a buffer's replacement and any in-place edit (tensor versions).
    Subclasses define ``_build_op() -> native operator`` and ``_dense_shape() -> (rows, cols)``."""

    def _init_csr(self, rows: int, bias: bool) -> None:
        self.register_buffer("indptr", torch.zeros(rows + 1, dtype=torch.int64))
        self.register_buffer("indices", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("values", torch.zeros(0, dtype=torch.float32))
        if bias:
            self.register_buffer("bias", torch.zeros(rows, dtype=torch.float32))
        else:
            self.bias = None
        self._op = None       # (native operator, bias as numpy) built from the buffers below
        self._op_src = None   # (the buffers it was built from, their versions)
        self._op_lock = threading.Lock()
        from nnslim.nn import _torch_ops

        self._op_handle = _torch_ops.register(self)

    def _set_csr(self, indptr: torch.Tensor, indices: torch.Tensor, values: torch.Tensor) -> None:
        self.indptr = indptr.to(torch.int64).contiguous()
        self.indices = indices.to(torch.int32).contiguous()
        self.values = values.to(torch.float32).contiguous()
        self._op = None

    @property
    def nnz(self) -> int:
        return int(self.values.numel())

    @property
    def sparsity(self) -> float:
        rows, cols = self._dense_shape()
        total = rows * cols
        return 1.0 - self.nnz / total if total else 0.0

    def _float_weight(self) -> torch.Tensor:
        return self.dense_weight()

    def _float_weight_shape(self):
        return tuple(self._weight_shape())

    def dense_weight(self) -> torch.Tensor:
        """The weight as a dense float32 matrix (out, in) / tensor (out, in, kh, kw)."""
        rows, cols = self._dense_shape()
        return csr_to_dense(self.indptr, self.indices, self.values, rows, cols).reshape(self._weight_shape())

    def op(self):
        """The native operator for the selected kernel path (NNSLIM_ISA or the best available)."""
        return self._built()[0]

    def _built(self):
        """(operator, bias as a numpy array or None), rebuilt when a buffer was replaced or edited in
        place; the bias array is a view of the buffer (float32 on the CPU) or a copy."""
        built = self._op
        b = self._buffers  # direct: this check runs on every forward
        tensors = (b["indptr"], b["indices"], b["values"], b.get("bias"))
        if built is not None:
            src, versions = self._op_src  # identity, not ==: tensors compare elementwise
            if (tensors[0] is src[0] and tensors[1] is src[1] and tensors[2] is src[2] and tensors[3] is src[3]
                    and versions == tuple(map(_version, tensors))):
                return built
        with self._op_lock:
            for name, t in zip(CSR_BUFFERS, tensors):
                if t.device.type != "cpu":
                    raise RuntimeError(f"{type(self).__name__}: buffer {name!r} is on {t.device}; "
                                       "move the module to the CPU for CPU inputs")
            bias = self.bias
            if bias is not None:
                bias = bias.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
            built = (self._build_op(), bias)
            self._op_src = (tensors, tuple(_version(t) for t in tensors))
            self._op = built
            return built

    def _np_csr(self):
        return (self.indptr.contiguous().numpy(), self.indices.contiguous().numpy(),
                self.values.contiguous().numpy())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # nnz differs between weights: take the incoming sizes instead of refusing a size mismatch.
        for name in ("indices", "values"):
            t = state_dict.get(prefix + name)
            if isinstance(t, torch.Tensor) and t.shape != getattr(self, name).shape:
                setattr(self, name, torch.empty(t.shape, dtype=getattr(self, name).dtype))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._op = None

    def _apply(self, fn, recurse=True):
        self._op = None
        return super()._apply(fn, recurse)

    def __getstate__(self):
        state = super().__getstate__().copy()
        state["_op"] = None
        state["_op_src"] = None
        state.pop("_op_lock", None)
        return state

    def __setstate__(self, state):
        from nnslim.nn import _torch_ops

        super().__setstate__(state)
        self._op_lock = threading.Lock()
        self._op_handle = _torch_ops.register(self)  # a copy must not answer to the original's handle

    def _kernel_repr(self) -> str:
        return self._op[0].isa if self._op is not None else "unbuilt"


def to_float_output(y: np.ndarray, shape, dtype: torch.dtype) -> torch.Tensor:
    out = torch.from_numpy(y).reshape(shape)
    return out if dtype == torch.float32 else out.to(dtype)


