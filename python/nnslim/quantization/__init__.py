"""Quantization: configs, the handler registry and nnslim.quantize."""
from nnslim.quantization.config import Int8DynamicConfig, QuantConfig, register_config_type
from nnslim.quantization.registry import register_preset, register_quantize_handler
from nnslim.quantization import dynamic as _dynamic  # noqa: F401  (registers "int8_dynamic")
from nnslim.quantization.api import quantize

__all__ = ["QuantConfig", "Int8DynamicConfig", "quantize", "register_quantize_handler", "register_preset",
           "register_config_type"]
