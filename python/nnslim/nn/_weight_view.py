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
        return self._dequantize().numpy(*args, **kwargs)

    def tolist(self):
        return self._dequantize().tolist()

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        def real(t):
            return t._dequantize() if isinstance(t, WeightView) else t

        return func(*tree_map(real, args), **tree_map(real, kwargs or {}))


class FloatWeightMixin:
    """``weight`` for a drop-in: a WeightView of ``_float_weight()`` (by default the module's
    ``dequantized_weight()``) in ``_float_weight_shape()``, on the device of the module's first
    buffer. Read-only: assigning ``weight`` raises."""

    def _float_weight(self) -> torch.Tensor:
        return self.dequantized_weight()

    @property
    def weight(self) -> WeightView:
        device = next(self.buffers()).device
        return WeightView(self._float_weight_shape(), device, self._float_weight)
