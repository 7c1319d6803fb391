"""Whole-model int8_static on the graph layer: capture -> fold every BatchNorm -> fuse residual adds and
activations into conv epilogues -> calibrate every conv / linear input -> swap in int8 modules.

The result is a torch.fx GraphModule of nnslim modules. Between int8 nodes activations stay fp32 in
channels_last (NHWC) memory, so a conv's output feeds the next conv without a layout change; each int8
conv quantizes its input once with its calibrated scale (see the README's Limits)."""
from __future__ import annotations

import copy
import dataclasses
import operator
import warnings
from typing import Dict, Iterable, List, Optional

import torch
import torch.fx as fx
import torch.nn as nn

from nnslim import _native
from nnslim._utils import set_submodule
from nnslim.graph import (GraphCaptureError, capture, channel_mul_module, drop_no_ops, fold_batchnorm,
                          fuse_conv_activation, fuse_conv_add, fuse_linear_relu, global_pool_module, mean_pool_module,
                          propagate_shapes)
from nnslim.graph.entry import insert_int8_entry, quantize_images, stem_for_entry
from nnslim.graph.fused import ChannelMul, FusedConv2d, FusedLinear
from nnslim.graph.layout import keep_layout
from nnslim.graph.lowered import lower
from nnslim.graph.nan_guard import guard_nan_images
from nnslim.nn.avg_pool2d import AdaptiveAvgPool2d, AvgPool2d, is_global
from nnslim.nn.int8_channel_mul import Int8ChannelMul
from nnslim.nn.int8_conv2d import Int8Conv2d
from nnslim.nn.int8_linear import Int8Linear
from nnslim.nn.int8_multihead_attention import Int8MultiheadAttention
from nnslim.nn.max_pool2d import MaxPool2d
from nnslim.quantization.calibrate import batch_input, calibrate, is_keyword_batch
from nnslim.quantization.config import Int8StaticConfig
from nnslim.quantization.observers import ACTIVATION_CODES

# The float passes build_graph runs, in order; a saved model records the list it was built with and
# load() runs exactly that list, so files from an nnslim with fewer passes still rebuild.
PASSES = {"drop_no_ops": drop_no_ops, "fold_batchnorm": fold_batchnorm, "fuse_conv_add": fuse_conv_add,
          "fuse_conv_activation": fuse_conv_activation, "fuse_linear_relu": fuse_linear_relu,
          "global_pool_module": global_pool_module, "mean_pool_module": mean_pool_module,
          "channel_mul_module": channel_mul_module}
GRAPH_PASSES = ("drop_no_ops", "fold_batchnorm", "fuse_conv_add", "fuse_conv_activation", "fuse_linear_relu",
                "global_pool_module", "mean_pool_module", "channel_mul_module")
# The least value of a fused activation that has one below 0 (a 7-bit edge's range reaches it).
_ACTIVATION_FLOOR = {"hardswish": -0.375}
# Every list an nnslim release has recorded (older first): what load() accepts.
KNOWN_PASS_LISTS = (("fold_batchnorm", "fuse_conv_add", "fuse_conv_activation", "fuse_linear_relu"),
                    ("fold_batchnorm", "fuse_conv_add", "fuse_conv_activation", "fuse_linear_relu",
                     "global_pool_module", "channel_mul_module"),
                    GRAPH_PASSES)


def _eligible(module: nn.Module) -> bool:
    if type(module) in (nn.Linear, FusedLinear):
        return True
    return type(module) in (nn.Conv2d, FusedConv2d) and module.padding_mode == "zeros" and \
        not isinstance(module.padding, str)


def _calibration_batches(data, num_batches: Optional[int]) -> List[torch.Tensor]:
    if data is None:
        raise ValueError("calibration_data: static quantization needs calibration batches, got None")
    if isinstance(data, torch.Tensor) or is_keyword_batch(data):  # one batch
        data = [data]
    batches = []
    for i, batch in enumerate(data):
        if num_batches is not None and i >= num_batches:
            break
        if is_keyword_batch(batch):
            raise GraphCaptureError("calibration_data: batches are mappings of keyword inputs (model(**batch)); "
                                    "graph capture traces positional tensor inputs")
        x = batch_input(batch)
        if batches and tuple(x.shape[1:]) != tuple(batches[0].shape[1:]):
            raise ValueError(f"calibration_data: batch {i} has shape {tuple(x.shape)}; expected "
                             f"(*, {', '.join(map(str, batches[0].shape[1:]))}) like batch 0")
        batches.append(x)
    if not batches:
        raise ValueError("calibration_data: no batches (the iterable is empty)")
    return batches


def build_graph(model: nn.Module, example_input: torch.Tensor, passes=GRAPH_PASSES) -> fx.GraphModule:
    """The float graph every int8 conversion (and nnslim.load) starts from: captured, BatchNorms folded,
    adds and activations fused, global pools and squeeze-excite multiplies made modules, with ``model``'s
    module layout. Deterministic
    in the architecture and ``passes``, so load() rebuilds the same graph. ``model`` becomes part of
    the result (its modules are shared)."""
    if tuple(passes) not in KNOWN_PASS_LISTS:
        raise ValueError(f"passes: expected one of {[list(p) for p in KNOWN_PASS_LISTS]}, got {list(passes)}")
    gm = capture(model)
    propagate_shapes(gm, example_input)
    for name in passes:
        PASSES[name](gm)
    keep_layout(gm, model)
    gm.meta["nnslim_graph"] = {"passes": list(passes), "input_shape": list(example_input.shape),
                       "opaque": list(gm.meta.get("nnslim_opaque", []))}
    return gm


def quantize_graph_static(model: nn.Module, config: Int8StaticConfig, calibration_data: Iterable) -> fx.GraphModule:
    """int8_static over the whole graph; returns a new GraphModule (``model`` itself is left as it was).
    Raises nnslim.graph.GraphCaptureError when the model's own forward cannot be traced."""
    if model.training:
        warnings.warn(f"nnslim.quantize: {type(model).__name__} is in training mode; quantizing an eval() copy "
                      "(BatchNorm uses its running statistics)", stacklevel=3)
    batches = _calibration_batches(calibration_data, config.num_batches)
    model = copy.deepcopy(model).eval()
    try:
        gm = build_graph(model, batches[0])
    except (RuntimeError, ValueError, TypeError) as exc:
        if isinstance(exc, GraphCaptureError):
            raise
        raise ValueError(f"calibration_data: batch 0 of shape {tuple(batches[0].shape)} could not run through "
                         f"the model: {exc}") from exc
    targets = {n.target: gm.get_submodule(n.target) for n in gm.graph.nodes
               if n.op == "call_module" and _eligible(gm.get_submodule(n.target))}
    # Conv (and squeeze-excite multiply) outputs are observed too: where every consumer can read int8,
    # the edge becomes int8.
    muls = {n.target: gm.get_submodule(n.target) for n in gm.graph.nodes
            if n.op == "call_module" and type(gm.get_submodule(n.target)) is ChannelMul}
    producers = {**{fqn: m for fqn, m in targets.items() if isinstance(m, nn.Conv2d)}, **muls}
    out_observers = {fqn: config.make_observer() for fqn in producers}
    hooks = [producers[fqn].register_forward_hook(lambda mod, args, out, fqn=fqn: out_observers[fqn].update(out))
             for fqn in out_observers]
    try:
        observers = calibrate(gm, targets, batches, config.make_observer, progress=config.progress)
    finally:
        for h in hooks:
            h.remove()
    for fqn, obs in observers.items():
        if obs.batches == 0:
            continue
        module = targets[fqn]
        qparams = config.activation_qparams(obs)
        if isinstance(module, nn.Linear):
            new = Int8Linear.from_float(module, config, input_qparams=qparams, relu=getattr(module, "relu", False))
        else:
            new = Int8Conv2d.from_float(module, config, input_qparams=qparams)
        set_submodule(gm, fqn, new)
    for fqn in _weight_only_linears(gm, targets):  # see there: dynamic int8, reached through F.linear
        set_submodule(gm, fqn, Int8Linear.from_float(gm.get_submodule(fqn), config))
    for n in gm.graph.nodes:  # attention blocks: int8 projections, activations quantized per row
        if n.op == "call_module" and type(gm.get_submodule(n.target)) is nn.MultiheadAttention:
            set_submodule(gm, n.target, Int8MultiheadAttention.from_float(gm.get_submodule(n.target), config))
    for fqn in muls:  # float until an int8 edge reaches it (then int8 in, and int8 out where it can)
        set_submodule(gm, fqn, Int8ChannelMul())
    edges = int8_edges(gm)
    qmin = ACTIVATION_CODES[config.activation_bits][0]
    x_of_mul = {c: p for p, uses in edges.items() for c, kind in uses if kind == "mul"}
    edge_lo: Dict[str, float] = {}  # producer -> the least real value its int8 output codes hold
    for producer, consumers in edges.items():  # in graph order: a multiply's x edge comes first
        module = gm.get_submodule(producer)
        # The least value a producer can emit, that a 7-bit edge's codes must reach down to: a
        # hardswish's -0.375, a gated multiply's x (gate in [0, 1]). Others clamp at code 0.
        floor = edge_lo.get(x_of_mul.get(producer), 0.0) if type(module) is Int8ChannelMul else \
            _ACTIVATION_FLOOR.get(module.activation, 0.0)
        qparams = config.activation_qparams(out_observers[producer], floor)
        edge_lo[producer] = (qmin - qparams[1]) * qparams[0]
        if type(module) is Int8ChannelMul:
            module.set_output_qparams(*qparams)
        else:
            module.set_output_qparams(*qparams, qmin=qmin)
        for consumer, as_residual in consumers:
            mod = gm.get_submodule(consumer)
            if as_residual is None:  # a max or average pool on the edge: int8 in, int8 out, same qparams
                if isinstance(mod, nn.AvgPool2d):
                    if type(mod) is not AvgPool2d:
                        mod = AvgPool2d.from_float(mod)
                        set_submodule(gm, consumer, mod)
                    mod.set_input_qparams(*qparams)  # its zero point: what padding and the rounding add
                elif type(mod) is not MaxPool2d:
                    set_submodule(gm, consumer, MaxPool2d.from_float(mod))
                continue
            if as_residual == "mul":  # the squeeze-excite multiply's x
                mod.set_input_qparams(*qparams)
                continue
            if as_residual == "avgpool":  # int8 in, fp32 means out
                if type(mod) is not AdaptiveAvgPool2d:
                    mod = AdaptiveAvgPool2d.from_float(mod)
                    set_submodule(gm, consumer, mod)
                mod.set_input_qparams(*qparams)
                continue
            (mod.set_residual_qparams if as_residual else mod.set_input_qparams)(*qparams)
    stem = stem_for_entry(gm)
    if stem is not None:
        insert_int8_entry(gm, stem)
        gm.meta["nnslim_graph"]["int8_entry"] = stem
    if edges or stem is not None:
        guard_nan_images(gm)
        gm.meta["nnslim_graph"]["nan_guard"] = True
    opaque = gm.meta["nnslim_graph"]["opaque"]  # untraceable submodules: module-by-module conversion inside
    if opaque:
        from nnslim.quantization.api import quantize

        seen = _inputs_of(gm, opaque, batches)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in opaque:
                quantize(gm.get_submodule(name), dataclasses.replace(config, graph=False), calibration_data=seen[name])
    gm.meta["nnslim_report"] = graph_report(gm)
    return lower(gm)


def _int8_pool(gm: fx.GraphModule, n: fx.Node, calls: Dict[str, int]) -> bool:
    """A max or average pool an int8 edge can pass through: max keeps the quantization (nnslim.nn.MaxPool2d
    runs it), an average re-quantizes in the input's own scale and zero point (nnslim.nn.AvgPool2d: the
    average-pool shortcuts of ResNet-D and timm's "d" models)."""
    if n.op != "call_module" or calls.get(n.target) != 1 or len(n.args) != 1 or n.kwargs:
        return False
    m = gm.get_submodule(n.target)
    if type(m) in (nn.AvgPool2d, AvgPool2d):
        return AvgPool2d.int8_capable(m)
    return type(m) in (nn.MaxPool2d, MaxPool2d) and not m.return_indices


def _int8_global_pool(gm: fx.GraphModule, n: fx.Node, src: fx.Node, calls: Dict[str, int]) -> bool:
    """A global average pool (module form) that can read the int8 edge from ``src``: the int8 sums
    dequantize into the fp32 means the head after it needs."""
    if n.op != "call_module" or calls.get(n.target) != 1 or n.args != (src,) or n.kwargs:
        return False
    m = gm.get_submodule(n.target)
    return type(m) in (nn.AdaptiveAvgPool2d, AdaptiveAvgPool2d) and is_global(m.output_size)


def int8_edges(gm: fx.GraphModule) -> Dict[str, List]:
    """producer fqn -> [(consumer fqn, as_residual)] for every Int8Conv2d whose output feeds only
    Int8Conv2d inputs, fused residuals, global average pools or the x of squeeze-excite multiplies
    (each module called once), directly or through max / average pools: those edges can stay int8. A
    pool on the way is listed as (pool fqn, None), before its consumers; a global average pool as (pool
    fqn, "avgpool"), a multiply as (fqn, "mul"). Multiplies whose x is int8 produce edges too."""
    calls: Dict[str, int] = {}
    for n in gm.graph.nodes:
        if n.op == "call_module":
            calls[n.target] = calls.get(n.target, 0) + 1

    def int8_uses(node: fx.Node, allow_pool: bool):
        uses = []
        for u in node.users:
            if allow_pool and _int8_pool(gm, u, calls):
                inner = int8_uses(u, False)
                if not inner:
                    return None
                uses += [(u.target, None)] + inner
                continue
            if _int8_global_pool(gm, u, node, calls):
                uses.append((u.target, "avgpool"))
                continue
            if u.op == "call_module" and type(gm.get_submodule(u.target)) is Int8ChannelMul and \
                    calls[u.target] == 1 and u.args[0] is node and u.args[1] is not node and not u.kwargs:
                uses.append((u.target, "mul"))
                continue
            if u.op != "call_module" or not isinstance(gm.get_submodule(u.target), Int8Conv2d) or calls[u.target] != 1:
                return None
            positions = [i for i, a in enumerate(u.args) if a is node]
            if not positions or u.kwargs or any(i > 1 for i in positions):
                return None
            uses += [(u.target, i == 1) for i in positions]
        return uses or None

    edges = {}
    for n in gm.graph.nodes:
        if n.op != "call_module" or not isinstance(gm.get_submodule(n.target), (Int8Conv2d, Int8ChannelMul)) or \
                calls[n.target] != 1:
            continue
        uses = int8_uses(n, True)
        if uses:
            edges[n.target] = uses
    # A multiply produces int8 only from an int8 x (its float path has no requantizer).
    int8_x = {c for uses in edges.values() for c, kind in uses if kind == "mul"}
    return {p: u for p, u in edges.items() if type(gm.get_submodule(p)) is not Int8ChannelMul or p in int8_x}


def _inputs_of(gm: fx.GraphModule, names: List[str], batches: List[torch.Tensor]) -> Dict[str, List[torch.Tensor]]:
    """The inputs each submodule in ``names`` sees when ``batches`` run through ``gm``, in one pass."""
    seen: Dict[str, List[torch.Tensor]] = {n: [] for n in names}
    handles = [gm.get_submodule(n).register_forward_pre_hook(lambda m, args, n=n: seen[n].append(args[0]))
               for n in names]
    try:
        with torch.no_grad():
            for b in batches:
                gm(b)
    finally:
        for h in handles:
            h.remove()
    return seen


_LAYOUT_OPS = {"flatten", "reshape", "view", "size", "getattr", "getitem", "contiguous", "Flatten", "Dropout",
               "Identity"}


def _on_int8_edge(gm: fx.GraphModule, n: fx.Node) -> bool:
    src = n.args[0] if n.args else None
    return isinstance(src, fx.Node) and src.op == "call_module" and \
        getattr(gm.get_submodule(src.target), "int8_output", False)


def _weight_only_linears(gm: fx.GraphModule, targets: Dict[str, nn.Module]) -> List[str]:
    """nn.Linear layers the graph never calls but whose weight it reads (``get_attr``): code that hands
    ``layer.weight`` / ``layer.bias`` to a function calling F.linear (torchvision's Swin attention).
    As dynamic Int8Linear layers their weight reads as a view whose F.linear runs the layer's kernel
    (nn/_weight_view.py); any other read gets the dequantized values, as before."""
    called = {n.target for n in gm.graph.nodes if n.op == "call_module"}
    found = []
    for n in gm.graph.nodes:
        if n.op != "get_attr" or not n.target.endswith(".weight"):
            continue
        fqn = n.target[: -len(".weight")]
        try:
            mod = gm.get_submodule(fqn)
        except AttributeError:
            continue
        if type(mod) is nn.Linear and fqn not in called and fqn not in targets and fqn not in found:
            found.append(fqn)
    return found


def graph_report(gm: fx.GraphModule) -> List[Dict[str, str]]:
    """Per compute node: where it runs (int8 / fp32) and why."""
    rows = []
    opaque = set(getattr(gm, "meta", {}).get("nnslim_graph", {}).get("opaque", []))
    for n in gm.graph.nodes:
        if n.op in ("placeholder", "output", "get_attr"):
            continue
        if n.op == "call_module":
            m = gm.get_submodule(n.target)
            kind = type(m).__name__
            if isinstance(m, (Int8Conv2d, Int8Linear)):
                fused = []
                if isinstance(m, Int8Conv2d) and m.activation != "none":
                    fused.append(m.activation)
                elif isinstance(m, Int8Linear) and m.relu:
                    fused.append("relu")
                if getattr(m, "residual", False):
                    fused.append("add")
                extra = "depthwise kernel" if getattr(m, "depthwise", False) else \
                    "grouped kernel" if getattr(m, "grouped_direct", False) else "GEMM"
                if getattr(m, "int8_output", False):
                    extra += ", int8 out" + (" (7-bit codes)" if getattr(m, "output_qmin", -128) == 0 else "")
                rows.append(dict(node=n.name, op=kind, runs="int8",
                                 why=extra + (f", fused {' + '.join(fused)}" if fused else "")))
                continue
            if isinstance(m, Int8MultiheadAttention):
                rows.append(dict(node=n.name, op=kind, runs="int8", why="attention: q / k / v / out projections "
                                 "int8 GEMM (activations per row), softmax fp32"))
                continue
            if isinstance(m, MaxPool2d) and _on_int8_edge(gm, n):
                rows.append(dict(node=n.name, op=kind, runs="int8", why="max pool on the int8 edge"))
                continue
            if isinstance(m, Int8ChannelMul) and m.int8_input:
                rows.append(dict(node=n.name, op=kind, runs="int8", why="squeeze-excite multiply, int8 in, " +
                                 ("int8 out" if m.int8_output else "fp32 out")))
                continue
            if isinstance(m, AvgPool2d) and m.int8_input:
                rows.append(dict(node=n.name, op=kind, runs="int8", why="average pool on the int8 edge (same qparams)"))
                continue
            if isinstance(m, AdaptiveAvgPool2d) and m.int8_input:
                rows.append(dict(node=n.name, op=kind, runs="int8", why="global average pool, int8 in, fp32 out"))
                continue
            if n.target in opaque:
                why = "untraceable submodule, converted module by module"
            elif type(m).__module__.startswith("nnslim.nn"):
                why = f"{kind}: an nnslim drop-in, kept as it is"
            elif kind in _LAYOUT_OPS:
                why = "layout / no-op"
            else:
                why = f"{kind}: no int8 kernel"
        elif n.target is operator.getitem and isinstance(n.args[0], fx.Node) and n.args[0].target is quantize_images:
            continue  # the entry's two outputs: part of its row
        elif n.target is quantize_images:
            rows.append(dict(node=n.name, op="quantize_images", runs="int8",
                             why="entry: fp32 NCHW -> int8 NHWC, non-finite images flagged"))
            continue
        elif n.target.__class__.__name__ == "function" and n.target.__module__ == "nnslim.graph.nan_guard":
            continue
        else:
            kind = getattr(n.target, "__name__", str(n.target))
            why = "layout / no-op" if kind in _LAYOUT_OPS else f"{kind}: no int8 kernel"
        rows.append(dict(node=n.name, op=kind, runs="fp32", why=why))
    return rows


def format_graph_report(rows: List[Dict[str, str]]) -> str:
    int8 = sum(r["runs"] == "int8" for r in rows)
    lines = [f"{int8} of {len(rows)} graph nodes run int8"]
    w = max((len(r["node"]) for r in rows), default=4)
    lines += [f"  {r['node']:<{w}}  {r['runs']:<4}  "
              + (r["why"] if r["why"].startswith(r["op"]) else f"{r['op']}: {r['why']}") for r in rows]
    return "\n".join(lines)


def report_text(model: nn.Module) -> str:
    """nnslim.graph_report: where each node of a graph-converted model runs, and why."""
    rows = getattr(model, "meta", {}).get("nnslim_report") if isinstance(model, fx.GraphModule) else None
    if rows is None:
        raise ValueError("model: expected a graph-converted model (nnslim.quantize(..., 'int8_static') on a "
                         f"traceable model), got a {type(model).__name__} without a graph report")
    text = format_graph_report(rows)
    # Where the default 8-bit edges leave speed on this CPU, say so (the measured reason: README, Limits).
    if _native.C.selected_isa() == "avx2" and any(isinstance(m, Int8Conv2d) and m.int8_output and m.output_qmin < 0
                                                  for m in model.modules()):
        text += ("\nnote: this CPU has AVX2 but no VNNI; Int8StaticConfig(activation_bits=7) (7-bit activations, "
                 "as torch.ao's x86 default) runs its int8 convs 1.3-1.4x faster")
    return text
