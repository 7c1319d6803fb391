"""nnslim.quantize: swap eligible layers for quantized drop-ins, in place."""
from __future__ import annotations

import fnmatch
import itertools
import warnings
from collections.abc import Iterator
from typing import Callable, Dict, Iterable, Optional, Union

import torch.nn as nn

from nnslim._utils import set_submodule

from nnslim.quantization.registry import handler_for, resolve_config


def _config_for(fqn: str, config_map: Dict[str, object]):
    """Per-name configs: exact names first, then glob patterns in order, then "_default"."""
    if fqn in config_map:
        return config_map[fqn]
    for pattern, cfg in config_map.items():
        if pattern != "_default" and fnmatch.fnmatchcase(fqn, pattern):
            return cfg
    return config_map.get("_default")



def quantize(model: nn.Module, config: Union[str, object, Dict[str, object]] = "int8_dynamic",
             calibration_data: Optional[Iterable] = None,
             filter_fn: Optional[Callable[[nn.Module, str], bool]] = None) -> nn.Module:
    """Replaces every eligible layer of ``model`` by its quantized drop-in; returns ``model``.

    ``config``: a preset name ("int8_dynamic", ...), a config object, or a mapping from layer names /
    glob patterns to either (``"_default"`` for the rest; ``None`` leaves a layer in float).
    ``filter_fn(module, fqn) -> bool`` further restricts which layers are converted.

    Whole-model conversions return a new module instead: "int8_static" on a model torch.fx can trace
    returns a GraphModule (BatchNorm folded, adds / activations fused); always use the return value.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if isinstance(config, dict) and "type" not in config:
        config_map = {k: (None if v is None else resolve_config(v)) for k, v in config.items()}
    else:
        config_map = {"_default": resolve_config(config)}
    context = {"calibration_data": calibration_data, "model": model}
    if set(config_map) == {"_default"} and config_map["_default"] is not None and filter_fn is None:
        convert_model = getattr(handler_for(config_map["_default"]), "convert_model", None)
        if convert_model and isinstance(calibration_data, Iterator):
            # A one-shot iterator (a generator): listed once (num_batches of them), so that a
            # whole-model conversion that falls back to module by module calibrates on the same
            # batches instead of an exhausted iterator. Other paths read it once and stream.
            limit = getattr(config_map["_default"], "num_batches", None)
            context["calibration_data"] = list(itertools.islice(calibration_data, limit) if limit
                                               else calibration_data)
        whole = convert_model(model, config_map["_default"], context) if convert_model else None
        if whole is not None:  # e.g. int8_static on a traceable model: a new GraphModule
            return whole
    for cfg in {id(c): c for c in config_map.values() if c is not None}.values():
        prepare = getattr(handler_for(cfg), "prepare", None)
        if prepare is not None:  # e.g. calibration runs the whole model once for all layers
            prepare(model, cfg, context)

    replaced = 0
    for fqn, module in list(model.named_modules()):
        if fqn == "" or (filter_fn is not None and not filter_fn(module, fqn)):
            continue
        cfg = _config_for(fqn, config_map)
        if cfg is None:
            continue
        new = handler_for(cfg)(module, cfg, fqn, context)
        if new is not None:
            set_submodule(model, fqn, new)
            replaced += 1
    if replaced == 0:
        warnings.warn("nnslim.quantize: no eligible layers found; the model is unchanged", stacklevel=2)
    return model
