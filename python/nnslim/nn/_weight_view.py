"""``layer.weight`` on the drop-ins that store their weights quantized.

Model code written against nn.Linear / nn.Conv2d reads its layers' weights: Hugging Face models cast
their inputs with ``x.to(layer.weight.dtype)`` (ViT's patch projection, CLIP's, T5's feed-forward
output), others ask ``layer.weight.device`` or ``.shape``. A drop-in without ``weight`` breaks those
models with an AttributeError; one that kept an fp32 copy would undo the compression. WeightView is
the middle: a float32 tensor of the float layer's weight shape whose metadata (dtype, shape, device)
costs nothing, and whose values, the moment any torch op reads them, are the layer's dequantized
weights, computed then and not kept.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils._pytree import tree_map


class WeightView(torch.Tensor):
    """A float32 stand-in for a quantized layer's weight: ``dequantize()`` runs (and its result is
    used) whenever a torch op reads the values; ``dtype`` / ``shape`` / ``device`` are free. The values
    are the ones the layer computes with; the view itself stores nothing."""

    @staticmethod
    def __new__(cls, shape, device: torch.device, dequantize: Callable[[], torch.Tensor]):
        view = torch.Tensor._make_wrapper_subclass(cls, tuple(shape), dtype=torch.float32, device=device,
                                                   requires_grad=False)
        view._dequantize = dequantize
        return view

    def __init__(self, shape, device, dequantize):  # state is set in __new__
        super().__init__()

    def __repr__(self):
        return f"WeightView(shape={tuple(self.shape)}, dequantized on use:\n{self._dequantize()!r})"

    # Conversions torch refuses for subclasses: the dequantized values.
    def numpy(self, *args, **kwargs):
        return self._dequantize().to(self.dtype).numpy(*args, **kwargs)

    def tolist(self):
        return self._dequantize().to(self.dtype).tolist()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        # Not torch's `_disabled_torch_function_impl`, so `has_torch_function(layer.weight)` is True:
        # the fused fp32 fast paths of nn.TransformerEncoderLayer / nn.MultiheadAttention check exactly
        # that before handing the layers' weights to one native op, and otherwise would run the
        # quantized layers in fp32 from weights dequantized on every call instead of calling them.
        kwargs = kwargs or {}
        if func is F.linear:
            routed = _linear_through_owner(args, kwargs)
            if routed is not None:
                return routed
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **kwargs)

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        # An in-place op would edit a temporary copy and leave the layer as it was: refuse it.
        schema = func._schema
        for i, a in enumerate(schema.arguments):
            value = args[i] if i < len(args) else kwargs.get(a.name)
            if a.alias_info is not None and a.alias_info.is_write and isinstance(value, WeightView):
                raise RuntimeError(f"{func.__name__}: layer.weight of a quantized nnslim layer is a read-only view "
                                   "of its dequantized weights; edit the layer's stored weights (weight_int8 / "
                                   "weight_scale, or requantize from a float layer) instead")

        def real(t):  # float32, whatever dtype conversions did to the module's buffers
            return t._dequantize().to(t.dtype) if isinstance(t, WeightView) else t

        def run():
            return func(*tree_map(real, args), **tree_map(real, kwargs))

        out = run()
        # A view of the view (w[0], w.t(), w.data, w.detach()) stays read-only: writes through it
        # (w[0] = 5, w.data.zero_()) raise as well.
        aliases = any(r.alias_info is not None for r in schema.returns)
        if aliases and isinstance(out, torch.Tensor) and any(isinstance(a, WeightView) for a in args):
            return WeightView(out.shape, out.device, run)
        return out


def _linear_through_owner(args, kwargs):
    """``F.linear(x, layer.weight, layer.bias)`` written in model code (torchvision's Swin passes its
    qkv / proj weights to a function that calls F.linear): the layer's own forward, i.e. its int8
    kernel, instead of an fp32 GEMM over weights dequantized on every call. Only when the call is
    exactly the layer's (its own bias or none, no fused activation, a matching input); None otherwise."""
    x = args[0] if args else kwargs.get("input")
    w = args[1] if len(args) > 1 else kwargs.get("weight")
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    owner = getattr(w, "_owner", None)
    if owner is None or not getattr(owner, "routes_f_linear", False) or getattr(owner, "relu", False):
        return None
    own_bias = owner._buffers.get("bias")
    if bias is not own_bias or not isinstance(x, torch.Tensor) or x.dim() == 0 or not x.is_floating_point():
        return None
    if x.shape[-1] != owner.in_features or (torch.is_grad_enabled() and x.requires_grad):
        return None
    return owner(x)


class FloatWeightMixin:
    """``weight`` for a drop-in: a WeightView of ``_float_weight()`` (by default the module's
    ``dequantized_weight()``) in ``_float_weight_shape()``, on the device of the module's first
    buffer. Read-only: assigning ``weight`` raises."""

    def _float_weight(self) -> torch.Tensor:
        return self.dequantized_weight()

    @property
    def weight(self) -> WeightView:
        device = next(self.buffers()).device
        view = WeightView(self._float_weight_shape(), device, self._float_weight)
        view._owner = self  # F.linear(x, layer.weight, layer.bias) runs the layer (_linear_through_owner)
        return view
