"""torch.library registrations, so torch.compile captures nnslim layers as single graph ops instead
of breaking the graph at a pybind call. The op receives a handle to the module (its packed weights
are native objects, not tensors) plus what the fake kernel needs to shape the output."""
from __future__ import annotations

import itertools
import weakref

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

    @torch.library.custom_op("nnslim::module_forward", mutates_args=())
    def module_forward(x: torch.Tensor, handle: int) -> torch.Tensor:
        return _module(handle)._forward_impl(x)

    @torch.library.register_fake("nnslim::module_forward")
    def _module_forward_fake(x: torch.Tensor, handle: int) -> torch.Tensor:
        return _module(handle)._fake_output(x)

    @torch.library.custom_op("nnslim::module_forward_residual", mutates_args=())
    def module_forward_residual(x: torch.Tensor, residual: torch.Tensor, handle: int) -> torch.Tensor:
        return _module(handle)._forward_impl(x, residual)

    @torch.library.register_fake("nnslim::module_forward_residual")
    def _module_forward_residual_fake(x: torch.Tensor, residual: torch.Tensor, handle: int) -> torch.Tensor:
        return _module(handle)._fake_output(x)


def compiling() -> bool:
    try:
        return bool(torch.compiler.is_compiling())
    except AttributeError:  # torch < 2.3
        return False


def forward(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Runs ``module._forward_impl(x)``, as one opaque graph op while torch.compile is tracing.
    Modules define ``_fake_output(x)``: an empty tensor with the real output's shape and strides."""
    if HAVE_CUSTOM_OP and compiling():
        return torch.ops.nnslim.module_forward(x, module._op_handle)
    return module._forward_impl(x)


def forward_residual(module: torch.nn.Module, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """``module._forward_impl(x, residual)`` for modules that fuse a residual add; one graph op under torch.compile."""
    if HAVE_CUSTOM_OP and compiling():
        return torch.ops.nnslim.module_forward_residual(x, residual, module._op_handle)
    return module._forward_impl(x, residual)


def linear_fake_output(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x.new_empty(*x.shape[:-1], module.out_features)
