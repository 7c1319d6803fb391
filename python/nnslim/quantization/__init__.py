"""Quantization: configs, the handler registry and nnslim.quantize."""
from nnslim.quantization.config import Int8DynamicConfig, Int8StaticConfig, QuantConfig, register_config_type
from nnslim.quantization.registry import register_preset, register_quantize_handler
from nnslim.quantization import dynamic as _dynamic  # noqa: F401  (registers "int8_dynamic")
from nnslim.quantization import static as _static  # noqa: F401  (registers "int8_static")
from nnslim.quantization.weight_only import Int4WeightConfig, Log2WeightConfig  # registers "int4_weight", "log2_weight"
from nnslim.quantization.api import quantize
from nnslim.quantization.qat import QATConfig, convert, prepare_qat

__all__ = ["QATConfig", "prepare_qat", "convert", "QuantConfig", "Int8DynamicConfig", "Int8StaticConfig", "Int4WeightConfig", "Log2WeightConfig", "quantize", "register_quantize_handler", "register_preset",
           "register_config_type"]
