"""Knowledge distillation: soft-target and feature-hint losses, weight inheritance, a DDP-ready trainer.

Typical use::

    from nnslim.distillation import DistillConfig, distill, inherit_weights
    inherit_weights(teacher, student)          # optional warm start from the teacher
    student, history = distill(teacher, student, train_set, DistillConfig(epochs=5), val_data=val_set)
"""
from __future__ import annotations

from nnslim.distillation.config import DistillConfig
from nnslim.distillation.hints import ChannelProjection, FeatureHints, WidthUnknownError
from nnslim.distillation.inherit import InheritReport, LayerMapping, inherit_weights
from nnslim.distillation.losses import KDLoss, attention_map, attention_transfer_loss, soft_target_loss
from nnslim.distillation.trainer import DistillHistory, distill

__all__ = [
    "KDLoss", "soft_target_loss", "attention_map", "attention_transfer_loss",
    "FeatureHints", "ChannelProjection", "WidthUnknownError",
    "inherit_weights", "InheritReport", "LayerMapping",
    "distill", "DistillConfig", "DistillHistory",
]
