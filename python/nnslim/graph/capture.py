"""Graph capture with torch.fx: symbolic trace, stopping at submodules that cannot be traced (they stay
leaf modules, named in a warning), and shape propagation with a real input."""
from __future__ import annotations

import warnings
from typing import Iterable, List, Optional, Set

import torch
import torch.fx as fx
import torch.nn as nn


class GraphCaptureError(RuntimeError):
    """The model cannot be captured as a graph (e.g. data-dependent control flow in its own forward)."""


def _nnslim_leaf_types() -> tuple:
    """nnslim's own modules are single ops to the graph (their kernels are opaque to tracing)."""
    import nnslim.nn as dropins
    from nnslim.graph.fused import FusedConv2d, FusedLinear

    return tuple(getattr(dropins, n) for n in dropins.__all__) + (FusedConv2d, FusedLinear)


def _runtime_functions() -> tuple:
    """nnslim's own call_function targets in converted graphs. Unpickling a GraphModule (pickle,
    torch.save of the whole model) re-traces its generated code with a subclass of the tracer class
    it recorded, built without arguments: these must be recorded as calls there, not run on proxies."""
    from nnslim.graph.entry import quantize_images
    from nnslim.graph.nan_guard import poison_outputs

    return (quantize_images, poison_outputs)


class _LeafTracer(fx.Tracer):
    def __init__(self, leaves: Optional[Set[nn.Module]] = None, leaf_types: tuple = ()):
        super().__init__(autowrap_functions=_runtime_functions())
        self._leaves = leaves if leaves is not None else set()
        self._leaf_types = leaf_types + _nnslim_leaf_types()

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if m in self._leaves or (self._leaf_types and isinstance(m, self._leaf_types)):
            return True
        return super().is_leaf_module(m, qualname)


def _trace(model: nn.Module, leaves: Set[nn.Module], leaf_types: tuple) -> fx.GraphModule:
    tracer = _LeafTracer(leaves, leaf_types)
    graph = tracer.trace(model)
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def _untraceable(module: nn.Module, prefix: str, leaf_types: tuple, out: List[str], leaves: Set[nn.Module]) -> None:
    """Finds the smallest submodules that fail to trace on their own; they become leaves."""
    for name, child in module.named_children():
        fqn = f"{prefix}{name}"
        is_container = isinstance(child, (nn.Sequential, nn.ModuleList, nn.ModuleDict))
        if isinstance(child, leaf_types + _nnslim_leaf_types()) or (
                type(child).__module__.startswith("torch.nn") and not is_container):
            continue  # fx keeps these as leaves anyway
        try:
            _trace(child, leaves, leaf_types)
        except Exception:  # noqa: BLE001 - any tracing failure makes the child a candidate
            before = len(out)
            _untraceable(child, fqn + ".", leaf_types, out, leaves)
            if len(out) == before:  # none of its children is to blame: the child itself is
                out.append(fqn)
                leaves.add(child)


def capture(model: nn.Module, leaf_types: Iterable[type] = ()) -> fx.GraphModule:
    """A GraphModule of ``model`` sharing its submodules. Submodules that cannot be traced stay leaf
    modules (a warning names them); a model whose own forward cannot be traced raises GraphCaptureError."""
    if isinstance(model, fx.GraphModule):
        return model
    leaf_types = tuple(leaf_types)
    leaves: Set[nn.Module] = set()
    try:
        return _trace(model, leaves, leaf_types)
    except Exception as first:  # noqa: BLE001
        names: List[str] = []
        _untraceable(model, "", leaf_types, names, leaves)
        if not names:
            raise GraphCaptureError(f"{type(model).__name__} cannot be traced by torch.fx: {first}") from first
        try:
            gm = _trace(model, leaves, leaf_types)
        except Exception as exc:  # noqa: BLE001
            raise GraphCaptureError(f"{type(model).__name__} cannot be traced by torch.fx: {exc}") from exc
        warnings.warn(f"nnslim.graph: these submodules cannot be traced and stay opaque (converted module by "
                      f"module): {', '.join(names)}", stacklevel=3)
        gm.meta["nnslim_opaque"] = names
        return gm


def propagate_shapes(gm: fx.GraphModule, *example_inputs) -> fx.GraphModule:
    """Runs ``example_inputs`` through ``gm``, recording each node's output shape in node.meta["tensor_meta"]."""
    from torch.fx.passes.shape_prop import ShapeProp

    with torch.no_grad():
        ShapeProp(gm).propagate(*example_inputs)
    return gm


def output_shape(node: fx.Node) -> Optional[torch.Size]:
    meta = node.meta.get("tensor_meta")
    return getattr(meta, "shape", None)
