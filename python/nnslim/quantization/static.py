"""Calibrated static int8: fold BN, fuse ReLU, observe inputs, then Linear -> Int8Linear(static) and
Conv2d -> Int8Conv2d."""
from __future__ import annotations

import warnings

import torch.nn as nn

from nnslim._utils import set_submodule

from nnslim.nn.int8_conv2d import Int8Conv2d
from nnslim.nn.int8_linear import Int8Linear
from nnslim.nn.int8_multihead_attention import Int8MultiheadAttention
from nnslim.quantization.calibrate import calibrate
from nnslim.quantization.config import Int8StaticConfig
from nnslim.quantization.fuse import fold_batchnorm, relu_followers
from nnslim.quantization.registry import register_preset, register_quantize_handler


def _eligible(module: nn.Module) -> bool:
    if type(module) is nn.Linear:
        return True
    return type(module) is nn.Conv2d and module.padding_mode == "zeros" and not isinstance(module.padding, str)


def _prepare(model: nn.Module, config: Int8StaticConfig, context: dict) -> None:
    if config.fold_bn:
        model.eval()
        fold_batchnorm(model)
    targets = {fqn: m for fqn, m in model.named_modules() if _eligible(m)}
    if not targets:
        context["static_qparams"] = {}
        return
    observers = calibrate(model, targets, context.get("calibration_data"), config.make_observer,
                          num_batches=config.num_batches, progress=config.progress)
    context["static_qparams"] = {fqn: config.activation_qparams(obs) for fqn, obs in observers.items()
                                 if obs.batches > 0}
    context["relu_followers"] = relu_followers(model) if config.fuse_relu else {}


@register_quantize_handler(Int8StaticConfig)
def _int8_static(module: nn.Module, config: Int8StaticConfig, fqn: str, context: dict):
    if type(module) is nn.MultiheadAttention:  # projections quantize activations per row (see there)
        return Int8MultiheadAttention.from_float(module, config)
    qparams = context.get("static_qparams", {}).get(fqn)
    if qparams is None or not _eligible(module):
        return None
    relu_fqn = context.get("relu_followers", {}).get(fqn)
    cls = Int8Linear if isinstance(module, nn.Linear) else Int8Conv2d
    new = cls.from_float(module, config, input_qparams=qparams, relu=relu_fqn is not None)
    if relu_fqn is not None:
        set_submodule(context["model"], relu_fqn, nn.Identity())
    return new


def _convert_model(model: nn.Module, config: Int8StaticConfig, context: dict):
    """Whole-graph conversion (a new GraphModule), or None to convert module by module."""
    if not (config.graph and config.fold_bn and config.fuse_relu):
        return None
    from nnslim.graph import GraphCaptureError
    from nnslim.quantization.graph_static import quantize_graph_static

    try:
        return quantize_graph_static(model, config, context.get("calibration_data"))
    except GraphCaptureError as exc:
        warnings.warn(f"nnslim.quantize: {exc}; falling back to module-by-module int8_static "
                      "(BatchNorm folding and fusion only inside nn.Sequential)", stacklevel=4)
        return None


_int8_static.prepare = _prepare
_int8_static.convert_model = _convert_model
register_preset("int8_static", Int8StaticConfig)
