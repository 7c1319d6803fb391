"""Quantization configs: frozen dataclasses, validated on construction, serialisable to dicts."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional


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
    # 7: each row asymmetrically onto [0, 127] (Int8Linear(activation_bits=7)): faster on AVX2-only
    # CPUs, coarser on symmetric rows. nn.Embedding rows are weights only and stay 8-bit.
    activation_bits: int = 8

    def __post_init__(self):
        if self.weight_granularity != "per_channel":
            raise ValueError(
                f"weight_granularity: Int8DynamicConfig supports 'per_channel', got {self.weight_granularity!r}")
        if self.activation_bits not in (7, 8) or isinstance(self.activation_bits, bool):
            raise ValueError(f"activation_bits: expected 8 or 7, got {self.activation_bits!r}")


@register_config_type
@dataclass(frozen=True)
class Int8StaticConfig(QuantConfig):
    """int8 weights (per channel) x int8 activations with scales calibrated on sample data.

    observer: "minmax" | "moving_average" | "percentile" | "mse" | "entropy" | "histogram".
    Conv-BN pairs are folded and a following ReLU fused before quantization (``fold_bn``, ``fuse_relu``).

    ``graph=True`` (default) converts the whole model as a graph when torch.fx can trace it: every
    BatchNorm folded wherever it sits, residual adds and activations (ReLU, ReLU6 / Hardtanh, Hardswish,
    Hardsigmoid) fused into the conv epilogues, depthwise convs on the direct kernel; quantize() then
    returns a new GraphModule. ``graph=False`` (or an untraceable model) converts module by module.

    ``activation_bits=7`` quantizes every activation onto the codes [0, 127] (the same real range
    in half as many steps, as torch.ao's x86 ``reduce_range``): on AVX2-only CPUs the int8 GEMM then
    multiplies without sign handling, 1.3-1.4x faster per conv on an AMD Zen 3, at some accuracy. The
    default 8 keeps every code; CPUs with AVX-512 VNNI or AMX gain nothing from 7.
    """

    observer: str = "minmax"
    symmetric: bool = False
    percentile: float = 99.99
    fold_bn: bool = True
    fuse_relu: bool = True
    num_batches: Optional[int] = None
    progress: bool = True
    graph: bool = True
    activation_bits: int = 8

    def __post_init__(self):
        from nnslim.quantization.observers import OBSERVERS

        if self.activation_bits not in (7, 8) or isinstance(self.activation_bits, bool):
            raise ValueError(f"activation_bits: expected 8 or 7, got {self.activation_bits!r}")
        if self.activation_bits == 7 and self.symmetric:
            raise ValueError("activation_bits=7 quantizes activations asymmetrically onto [0, 127]; "
                             "it cannot be combined with symmetric=True")

        if self.observer not in OBSERVERS:
            raise ValueError(f"observer: expected one of {sorted(OBSERVERS)}, got {self.observer!r}")
        if not 50 < self.percentile <= 100:
            raise ValueError(f"percentile: expected a value in (50, 100], got {self.percentile}")
        if self.num_batches is not None and self.num_batches < 1:
            raise ValueError(f"num_batches: expected None or >= 1, got {self.num_batches}")

    def activation_qparams(self, observer, floor: float = 0.0):
        """The observer's (scale, zero_point) on this config's activation codes (activation_qparams)."""
        from nnslim.quantization.observers import activation_qparams

        return activation_qparams(observer.qparams(self.symmetric), self.activation_bits, floor)

    def make_observer(self):
        from nnslim.quantization.observers import make_observer

        return make_observer(self.observer, **({"percentile": self.percentile} if self.observer == "percentile" else {}))


@register_config_type
@dataclass(frozen=True)
class Int4WeightConfig(QuantConfig):
    """Weight-only int4 (nn.Linear -> Int4Linear): symmetric [-8, 7] codes with one fp32 scale per
    ``group_size`` input columns; activations stay float at the interface (quantized per row to
    int8 inside the kernel). ``mse_search`` picks each group's scale by a 16-step clipping search."""

    group_size: int = 128
    bits: int = 4
    mse_search: bool = True

    def __post_init__(self):
        from nnslim.nn._q4 import check_group_size

        if self.bits != 4:
            raise ValueError(f"bits: Int4WeightConfig supports 4, got {self.bits!r} "
                             "(8-bit weights: Int8DynamicConfig)")
        check_group_size(self.group_size)


@register_config_type
@dataclass(frozen=True)
class Log2WeightConfig(QuantConfig):
    """Weight-only power-of-two quantization (nn.Linear -> Log2Linear): 4 bits per weight, a sign and
    a 3-bit exponent (w = scale * sign * 2^-e, e in 0..6, or 0), one fp32 scale per output channel,
    exponents rounded in the log domain."""

    bits: int = 4

    def __post_init__(self):
        if self.bits != 4:
            raise ValueError(f"bits: Log2WeightConfig supports 4 (sign + 3-bit exponent), got {self.bits!r}")
