"""SparseLinear: a drop-in for a pruned nn.Linear that skips the zeros for real (CSR kernels)."""
from __future__ import annotations

import torch
import torch.nn as nn

from nnslim import _native
from nnslim.nn import _torch_ops
from nnslim.nn._sparse_common import (CsrModuleMixin, check_sparse_input, dense_to_csr, effective_weight,
                                      to_float_output)


class SparseLinear(CsrModuleMixin, nn.Module):
    """``y = x @ W^T + b`` with W stored as CSR: the work is proportional to W's nonzeros.

    Buffers (the portable form in state_dicts): ``indptr`` (out + 1,) int64, ``indices`` (nnz,) int32,
    ``values`` (nnz,) float32, ``bias`` (out,) float32 or absent. The kernel-specific operator is built
    from them on first use and rebuilt after ``load_state_dict`` (which accepts any nnz).
    Inputs: any leading dims, float16/bfloat16/float32/float64 (computed in float32, returned in the
    input dtype). Inference only; CPU inputs run on nnslim._C, CUDA inputs on nnslim._cuda.
    """

    routes_f_linear = True  # F.linear(x, self.weight, self.bias) runs forward (nn/_weight_view.py)

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"in_features and out_features must be positive, got {in_features}, {out_features}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self._init_csr(self.out_features, bias)

    def init_kwargs(self) -> dict:
        return dict(in_features=self.in_features, out_features=self.out_features, bias=self.bias is not None)

    @classmethod
    def from_dense(cls, linear: nn.Linear) -> "SparseLinear":
        """CSR of ``linear``'s effective weight (pruning masks applied; exact zeros dropped)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"SparseLinear.from_dense expects an nn.Linear, got {type(linear).__name__}")
        mod = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        mod._set_csr(*dense_to_csr(effective_weight(linear)))
        if linear.bias is not None:
            mod.bias.copy_(linear.bias.detach().float().cpu())
        if linear.weight.device.type == "cpu":
            mod.op()
        else:
            mod.to(linear.weight.device)  # CUDA inputs run on nnslim._cuda's CSR kernel
        return mod

    def _dense_shape(self):
        return self.out_features, self.in_features

    def _weight_shape(self):
        return self.out_features, self.in_features

    def _build_op(self):
        indptr, indices, values = self._np_csr()
        return _native.C.SparseLinearF32(indptr, indices, values, (self.out_features, self.in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sparse_input("SparseLinear", x, self.in_features, -1, allow_cuda=True)
        if x.device.type == "cuda":
            from nnslim.nn._cuda_ops import sparse_linear_cuda  # the CUDA kernels live with nnslim._cuda

            return sparse_linear_cuda(self.indptr, self.indices, self.values, self.bias, x)
        return _torch_ops.forward(self, x)

    _fake_output = _torch_ops.linear_fake_output

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        rows = x.detach().reshape(-1, self.in_features)
        if rows.dtype != torch.float32:
            rows = rows.float()
        rows = rows.contiguous()
        op, bias = self._built()
        y = op.forward(rows.numpy(), bias, _native.num_threads())
        return to_float_output(y, (*lead, self.out_features), x.dtype)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"sparsity={self.sparsity:.1%} (nnz={self.nnz}), kernel={self._kernel_repr()}")
