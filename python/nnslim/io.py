"""nnslim.save / nnslim.load: one compact file (safetensors) with JSON metadata saying which modules
are which drop-ins, so a freshly built float model can be rebuilt into the compressed one.

Format (version 1): safetensors tensors = the model's state_dict (masks baked into weights);
header metadata: {"format": "nnslim", "format_version": "1", "nnslim_version": ..., "modules": JSON
{fqn: {"type": name, "kwargs": {...}}}} for every module whose type or shape compression may change.
Graph-converted models (whole-model int8_static) add "graph": JSON {"passes": [...], "input_shape": [...],
"opaque": [...]}: load() rebuilds the same float graph from the fresh model (the passes are
deterministic in the architecture), then swaps the modules and loads the tensors as usual.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Callable, Dict, Tuple

import torch
import torch.fx
import torch.nn as nn

from nnslim._utils import set_submodule

FORMAT = "nnslim"
FORMAT_VERSION = 1

# type name -> (class, kwargs of an instance)
_REBUILDABLE: Dict[str, Tuple[type, Callable[[nn.Module], dict]]] = {}


def register_module_type(cls: type, kwargs_fn: Callable[[nn.Module], dict] = None) -> None:
    """Lets save/load rebuild modules of ``cls``; drop-ins provide ``init_kwargs()``."""
    _REBUILDABLE[cls.__name__] = (cls, kwargs_fn or (lambda m: m.init_kwargs()))


def _conv_kwargs(m: nn.Conv2d) -> dict:
    return dict(in_channels=m.in_channels, out_channels=m.out_channels, kernel_size=m.kernel_size,
                stride=m.stride, padding=m.padding, dilation=m.dilation, groups=m.groups,
                bias=m.bias is not None, padding_mode=m.padding_mode)


def _bn_kwargs(m) -> dict:
    return dict(num_features=m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine,
                track_running_stats=m.track_running_stats)


register_module_type(nn.Identity, lambda m: {})
register_module_type(nn.Linear, lambda m: dict(in_features=m.in_features, out_features=m.out_features,
                                               bias=m.bias is not None))
register_module_type(nn.Conv2d, _conv_kwargs)
register_module_type(nn.BatchNorm1d, _bn_kwargs)
register_module_type(nn.BatchNorm2d, _bn_kwargs)
register_module_type(nn.Embedding, lambda m: dict(num_embeddings=m.num_embeddings, embedding_dim=m.embedding_dim,
                                                  padding_idx=m.padding_idx))
register_module_type(nn.LayerNorm, lambda m: dict(normalized_shape=tuple(m.normalized_shape), eps=m.eps,
                                                  elementwise_affine=m.elementwise_affine, bias=m.bias is not None))
register_module_type(nn.GroupNorm, lambda m: dict(num_groups=m.num_groups, num_channels=m.num_channels, eps=m.eps,
                                                  affine=m.affine))

# Modules that are not rebuilt from constructor arguments but whose size attributes channel pruning
# changes (attention head counts, RMS-norm widths): the file records the attributes, load sets them
# and resizes the module's tensors to the file's shapes before loading them.
_SIZE_ATTRS = ("num_attention_heads", "all_head_size", "num_heads", "num_key_value_heads", "hidden_size",
               "normalized_shape", "dim")


def _resized_modules(model: nn.Module) -> Dict[str, dict]:
    from nnslim.pruning.attention import is_proj_attention, is_qkv_attention, is_rms_norm

    out = {}
    for fqn, m in model.named_modules():
        if fqn and (is_qkv_attention(m) or is_proj_attention(m) or is_rms_norm(m)):
            attrs = {a: getattr(m, a) for a in _SIZE_ATTRS if isinstance(getattr(m, a, None), int)
                     and not isinstance(getattr(m, a), bool)}
            out[fqn] = attrs
    return out


def _apply_resized(path, model: nn.Module, resized: dict, tensors: Dict[str, torch.Tensor]) -> None:
    current = dict(model.named_modules())
    for fqn, attrs in resized.items():
        m = current.get(fqn)
        if m is None or not isinstance(attrs, dict):
            raise ValueError(f"{path!r} does not match the model: it has no submodule {fqn!r}")
        for a, v in attrs.items():
            if a not in _SIZE_ATTRS or not isinstance(v, int):
                raise ValueError(f"{path!r}: corrupt size record for {fqn!r}: {a}={v!r}")
            setattr(m, a, v)
        for name, t in list(m._parameters.items()):
            key = f"{fqn}.{name}"
            if t is not None and key in tensors and tensors[key].shape != t.shape:
                setattr(m, name, nn.Parameter(torch.zeros(tensors[key].shape, dtype=t.dtype, device=t.device),
                                              requires_grad=t.requires_grad))


def _register_dropins() -> None:
    import nnslim.nn as dropins
    from nnslim.graph.fused import FusedConv2d, FusedLinear

    if "FusedLinear" not in _REBUILDABLE:
        register_module_type(FusedLinear, lambda m: dict(in_features=m.in_features, out_features=m.out_features,
                                                         bias=m.bias is not None, relu=m.relu))
    if "FusedConv2d" not in _REBUILDABLE:
        register_module_type(FusedConv2d, lambda m: dict(_conv_kwargs(m), activation=m.activation, act_lo=m.act_lo,
                                                         act_hi=m.act_hi, residual=m.residual))

    for name in dropins.__all__:
        cls = getattr(dropins, name)
        if name not in _REBUILDABLE and hasattr(cls, "init_kwargs"):
            register_module_type(cls)


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def _normalise(kwargs: dict) -> dict:
    return json.loads(json.dumps({k: _jsonable(v) for k, v in kwargs.items()}))


def _module_table(model: nn.Module) -> Dict[str, dict]:
    _register_dropins()
    table = {}
    for fqn, m in model.named_modules():
        entry = _REBUILDABLE.get(type(m).__name__)
        if fqn and entry is not None and entry[0] is type(m):
            table[fqn] = {"type": type(m).__name__, "kwargs": _normalise(entry[1](m))}
    return table


def _baked_state_dict(model: nn.Module) -> Dict[str, torch.Tensor]:
    """state_dict with pruning masks applied (weight = weight_orig * weight_mask)."""
    sd = model.state_dict()
    out = {}
    for k, v in sd.items():
        if k.endswith("weight_mask") or not isinstance(v, torch.Tensor):
            continue
        if k.endswith("weight_orig"):
            base = k[: -len("_orig")]
            mask = sd.get(base + "_mask")
            v = v * mask if mask is not None else v
            k = base
        out[k] = v.detach().cpu().contiguous().clone()
    return out


def save(model: nn.Module, path) -> None:
    """Writes ``model`` to ``path`` atomically (temp file + rename: a failed save leaves no partial file)."""
    from safetensors.torch import save_file

    import nnslim

    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"path: directory {directory!r} does not exist")
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "nnslim_version": nnslim.__version__,
                "modules": json.dumps(_module_table(model))}
    resized = _resized_modules(model)
    if resized:
        metadata["resized"] = json.dumps(resized)
    graph = getattr(model, "meta", {}).get("nnslim_graph") if isinstance(model, torch.fx.GraphModule) else None
    if graph is not None:
        metadata["graph"] = json.dumps(graph)
    tensors = _baked_state_dict(model)
    fd, tmp = tempfile.mkstemp(prefix=".nnslim-", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_file(path) -> Tuple[Dict[str, torch.Tensor], dict]:
    """(tensors, metadata) of an nnslim file; clear errors for missing, foreign, truncated or newer files."""
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no such file {path!r}")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers / data
        raise ValueError(f"{path!r} is not a readable nnslim file (truncated or not safetensors): {exc}") from exc
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is a safetensors file but not an nnslim one (format={meta.get('format')!r})")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise ValueError(f"{path!r}: bad format_version {meta.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise ValueError(f"{path!r} uses nnslim file format {version}; this nnslim reads up to {FORMAT_VERSION}. "
                         "Upgrade nnslim.")
    try:
        meta["modules"] = json.loads(meta.get("modules", "{}"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path!r}: corrupt module table: {exc}") from exc
    if "graph" in meta:
        try:
            graph = json.loads(meta["graph"])
            shape = graph["input_shape"]
            if not (isinstance(shape, list) and shape and all(isinstance(d, int) and 0 < d < 1 << 20 for d in shape)):
                raise ValueError(f"bad input_shape {shape!r}")
            meta["graph"] = graph
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path!r}: corrupt graph record: {exc}") from exc
    return tensors, meta


# Which float layer each saved type may stand in for: a file may change a layer's type within its
# family (quantized / sparse drop-ins) and its shape (channel pruning), and turn anything into Identity
# (folded BatchNorm, fused ReLU); anything else means the file belongs to another architecture.
_FAMILIES = [
    {"Linear", "NonDynamicallyQuantizableLinear", "FusedLinear", "Int8Linear", "Int4Linear", "Log2Linear",
     "SparseLinear", "SparseInt8Linear"},
    {"MultiheadAttention", "Int8MultiheadAttention"},
    {"Conv2d", "FusedConv2d", "Int8Conv2d", "SparseConv2d"},
    {"BatchNorm1d"},
    {"BatchNorm2d"},
    {"Embedding", "Int8Embedding"},
    {"ChannelMul", "Int8ChannelMul"},
]


def _compatible(saved_type: str, module: nn.Module) -> bool:
    if saved_type == "Identity" or type(module).__name__ == saved_type:
        return True
    current = type(module).__name__
    return any(saved_type in fam and current in fam for fam in _FAMILIES)



def _inside_entry(fqn: str, table: dict) -> bool:
    """Whether an enclosing module of ``fqn`` is itself a table entry (a drop-in that builds its own
    children: Int8MultiheadAttention's q_proj, which the float model does not have)."""
    parts = fqn.split(".")
    return any(".".join(parts[:i]) in table for i in range(1, len(parts)))


def _check_table(path, meta: dict, model: nn.Module, graph_added=()) -> None:
    """Every table entry names a known type and a compatible submodule of ``model`` (entries named in
    ``graph_added`` are modules the graph passes create, checked once the graph is rebuilt)."""
    current = dict(model.named_modules())
    if not isinstance(meta["modules"], dict):
        raise ValueError(f"{path!r}: corrupt module table (expected a mapping)")
    for fqn, entry in meta["modules"].items():
        if not (isinstance(entry, dict) and isinstance(entry.get("type"), str) and isinstance(entry.get("kwargs"), dict)):
            raise ValueError(f"{path!r}: corrupt module table entry for {fqn!r}")
        if entry.get("type") not in _REBUILDABLE:
            raise ValueError(f"{path!r}: module {fqn!r} has type {entry.get('type')!r}, unknown to this nnslim")
        mod = current.get(fqn)
        if mod is None and (fqn in graph_added or _inside_entry(fqn, meta["modules"])):
            continue  # checked once what creates it (the graph, an enclosing drop-in) is rebuilt
        if mod is None:
            raise ValueError(f"{path!r} does not match the model: it has no submodule {fqn!r}")
        if not _compatible(entry["type"], mod):
            raise ValueError(f"{path!r} does not match the model: {fqn!r} is a {type(mod).__name__} in the model "
                             f"but a {entry['type']} in the file")


def _rebuild_graph(path, model: nn.Module, graph: dict) -> nn.Module:
    from nnslim.graph import GraphCaptureError
    from nnslim.quantization.graph_static import KNOWN_PASS_LISTS, build_graph

    passes = tuple(graph.get("passes", []))
    if passes not in KNOWN_PASS_LISTS:
        raise ValueError(f"{path!r}: graph passes {graph.get('passes')} are unknown to this nnslim "
                         f"(it knows {[list(p) for p in KNOWN_PASS_LISTS]})")
    model.eval()
    try:
        with torch.no_grad():
            return build_graph(model, torch.zeros(graph["input_shape"]), passes)
    except (GraphCaptureError, RuntimeError, ValueError) as exc:
        raise ValueError(f"{path!r} holds a graph-converted model that cannot be rebuilt from this "
                         f"{type(model).__name__}: {exc}") from exc


def load(path, model: nn.Module) -> nn.Module:
    """Rebuilds the compressed model inside ``model`` (a freshly built float model of the same
    architecture): swaps in the saved drop-ins / reshaped layers, then loads the tensors strictly.
    For a graph-converted file the result is a new GraphModule built from ``model``: use the return value."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    tensors, meta = read_file(path)
    _register_dropins()
    if "graph" in meta:
        # Top-level modules that only the float passes create (global pools, squeeze-excite multiplies).
        table = meta["modules"] if isinstance(meta.get("modules"), dict) else {}
        added = {fqn for fqn in table if "." not in fqn and fqn.startswith(("global_pool", "se_mul"))}
        _check_table(path, meta, model, added)
        model = _rebuild_graph(path, model, meta["graph"])
    _check_table(path, meta, model)
    for fqn, entry in meta["modules"].items():  # enclosing modules first (named_modules order)
        try:
            mod = model.get_submodule(fqn)
        except AttributeError:
            raise ValueError(f"{path!r} does not match the model: rebuilding it left no submodule {fqn!r}") from None
        cls, kwargs_fn = _REBUILDABLE[entry["type"]]
        if not _compatible(entry["type"], mod):
            raise ValueError(f"{path!r} does not match the model: {fqn!r} is a {type(mod).__name__} in the rebuilt "
                             f"model but a {entry['type']} in the file")
        if type(mod) is cls and _normalise(kwargs_fn(mod)) == entry["kwargs"]:
            continue
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in entry["kwargs"].items()}
        try:
            new = cls(**kwargs)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{path!r}: cannot rebuild {fqn!r} as {entry['type']}({entry['kwargs']}): {exc}") from exc
        new.train(mod.training)  # a freshly built module starts in train mode; keep the model's mode
        old = next(iter(mod.parameters()), None)
        if old is not None:  # built on the CPU in fp32; follow the model (a float layer also its dtype)
            if type(new).__module__.startswith("torch.nn") and old.is_floating_point():
                new.to(device=old.device, dtype=old.dtype)
            else:
                new.to(device=old.device)
        set_submodule(model, fqn, new)
    # Masked (pruned) modules of the fresh model load the baked weight.
    from nnslim.pruning.masks import is_pruned, remove_mask

    for m in model.modules():
        if is_pruned(m):
            remove_mask(m)
    if "resized" in meta:
        try:
            resized = json.loads(meta["resized"])
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path!r}: corrupt size record: {exc}") from exc
        _apply_resized(path, model, resized, tensors)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path!r} does not match the model: {exc}") from exc
    if "graph" in meta:
        from nnslim.graph.nan_guard import guard_nan_images
        from nnslim.quantization.graph_static import graph_report

        stem = meta["graph"].get("int8_entry")
        if stem is not None:
            from nnslim.graph.entry import insert_int8_entry

            if stem not in dict(model.named_modules()):
                raise ValueError(f"{path!r}: the int8 entry's conv {stem!r} is not in the rebuilt graph")
            insert_int8_entry(model, stem)
            model.meta["nnslim_graph"]["int8_entry"] = stem
        if meta["graph"].get("nan_guard"):
            guard_nan_images(model)
            model.meta["nnslim_graph"]["nan_guard"] = True
        model.meta["nnslim_report"] = graph_report(model)
        from nnslim.graph.lowered import lower

        lower(model)
    return model
