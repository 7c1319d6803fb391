"""torch.library registrations, so torch.compile captures nnslim layers as single graph ops instead
of breaking the graph at a pybind call. The op receives a handle to the module (its packed weights
are native objects, not tensors) plus what the fake kernel needs to shape the output."""
from __future__ import annotations

import itertools
import weakref
from typing import Optional

import torch

_modules: "weakref.WeakValueDictionary[int, torch.nn.Module]" = weakref.WeakValueDictionary()
_next_handle = itertools.count(1)
HAVE_CUSTOM_OP = hasattr(torch.library, "custom_op") and hasattr(torch.library, "register_fake")


def register(module: torch.nn.Module) -> int:
    handle = next(_next_handle)
    _modules[handle] = module
    return handle


def _module(handle: int) -> torch.nn.Module:
    m = _modules.get(handle)
    if m is None:
        raise RuntimeError(f"nnslim op: module handle {handle} no longer exists")
    return m


if HAVE_CUSTOM_OP:

    @torch.library.custom_op("nnslim::linear_forward", mutates_args=())
    def linear_forward(x: torch.Tensor, handle: int, out_features: int) -> torch.Tensor:
        return _module(handle)._forward_impl(x)

    @torch.library.register_fake("nnslim::linear_forward")
    def _linear_forward_fake(x: torch.Tensor, handle: int, out_features: int) -> torch.Tensor:
        return x.new_empty(*x.shape[:-1], out_features)


def compiling() -> bool:
    try:
        return bool(torch.compiler.is_compiling())
    except AttributeError:  # torch < 2.3
        return False


def linear_via_op(module: torch.nn.Module, x: torch.Tensor) -> Optional[torch.Tensor]:
    """The op call when torch.compile is tracing; None means call the module directly (eager)."""
    if HAVE_CUSTOM_OP and compiling():
        return torch.ops.nnslim.linear_forward(x, module._op_handle, module.out_features)
    return None
