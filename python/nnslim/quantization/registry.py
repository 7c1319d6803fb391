"""Config type -> conversion handler. New techniques register here; quantize() never changes."""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch.nn as nn

# handler(module, config, fqn, context) -> replacement module, or None when the module is not eligible
Handler = Callable[[nn.Module, object, str, dict], Optional[nn.Module]]
_HANDLERS: Dict[type, Handler] = {}
_PRESETS: Dict[str, Callable[[], object]] = {}


def register_quantize_handler(config_type: type):
    def deco(fn: Handler) -> Handler:
        _HANDLERS[config_type] = fn
        return fn
    return deco


def register_preset(name: str, factory: Callable[[], object]) -> None:
    _PRESETS[name] = factory


def handler_for(config) -> Handler:
    for cls in type(config).__mro__:
        if cls in _HANDLERS:
            return _HANDLERS[cls]
    raise TypeError(f"no quantization handler registered for {type(config).__name__}")


def resolve_config(config):
    """A preset name, a config instance, or a dict form -> a config instance."""
    from nnslim.quantization.config import QuantConfig

    if isinstance(config, str):
        if config not in _PRESETS:
            raise ValueError(f"unknown quantization preset {config!r}; expected one of {sorted(_PRESETS)}")
        return _PRESETS[config]()
    if isinstance(config, QuantConfig):
        return config
    if isinstance(config, dict) and "type" in config:
        return QuantConfig.from_dict(config)
    raise TypeError(f"config: expected a preset name, a QuantConfig or its dict form, got {type(config).__name__}")
