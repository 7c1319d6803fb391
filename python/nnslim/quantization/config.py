"""Quantization configs: frozen dataclasses, validated on construction, serialisable to dicts."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict


@dataclass(frozen=True)
class QuantConfig:
    """Base of every quantization config; the handler registry is keyed by the concrete type."""

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["type"] = type(self).__name__
        return d

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "QuantConfig":
        d = dict(d)
        name = d.pop("type", None)
        cls = _CONFIG_TYPES.get(name)
        if cls is None:
            raise ValueError(f"unknown quantization config type {name!r}; known: {sorted(_CONFIG_TYPES)}")
        return cls(**d)


_CONFIG_TYPES: Dict[str, type] = {}


def register_config_type(cls):
    _CONFIG_TYPES[cls.__name__] = cls
    return cls


@register_config_type
@dataclass(frozen=True)
class Int8DynamicConfig(QuantConfig):
    """int8 weights (symmetric, per output channel) x int8 activations quantized per row at run time."""

    weight_granularity: str = "per_channel"

    def __post_init__(self):
        if self.weight_granularity != "per_channel":
            raise ValueError(
                f"weight_granularity: Int8DynamicConfig supports 'per_channel', got {self.weight_granularity!r}")
