"""Distillation losses: Hinton's soft-target loss and the feature losses used by hints."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


def _check_temperature(temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) \
            or not (0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    return float(alpha)


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                     temperature: float) -> torch.Tensor:
    """``T^2 * KL(softmax(t/T) || softmax(s/T))``, batch-mean, classes on dim 1.

    Both sides stay log-probabilities (``log_target=True``): feeding probabilities to ``kl_div``
    underflows to log(0) for confident teachers, and the T^2 factor keeps gradient magnitudes
    comparable across temperatures (Hinton et al., 2015).
    """
    t = temperature
    log_p_student = F.log_softmax(student_logits / t, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / t, dim=1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * (t * t)


class KDLoss(nn.Module):
    """``alpha * CE(student, y) + (1 - alpha) * T^2 * KL(teacher_T || student_T)``.

    ``forward(student_logits, teacher_logits, target=None)``; logits are ``(N, C)`` (or ``(N, C, ...)``
    with classes on dim 1). ``target`` may be ``None`` only when ``alpha == 0`` (label-free
    distillation); ``teacher_logits`` may be ``None`` only when ``alpha == 1`` (plain fine-tuning).
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.5):
        super().__init__()
        self.temperature = _check_temperature(temperature)
        self.alpha = _check_alpha(alpha)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:g}, alpha={self.alpha:g}"

    def forward(self, student_logits: torch.Tensor, teacher_logits: Optional[torch.Tensor],
                target: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not isinstance(student_logits, torch.Tensor) or student_logits.dim() < 2:
            raise ValueError("student_logits must be a tensor of shape (N, C), got "
                             f"{getattr(student_logits, 'shape', type(student_logits).__name__)}")
        loss = student_logits.new_zeros(())
        if self.alpha < 1.0:
            if teacher_logits is None:
                raise ValueError("teacher_logits is None but alpha < 1 needs the teacher's logits")
            if teacher_logits.shape != student_logits.shape:
                raise ValueError(f"teacher_logits shape {tuple(teacher_logits.shape)} does not match "
                                 f"student_logits shape {tuple(student_logits.shape)}")
            loss = loss + (1.0 - self.alpha) * soft_target_loss(
                student_logits, teacher_logits, self.temperature)
        if self.alpha > 0.0:
            if target is None:
                raise ValueError(f"target is None but alpha={self.alpha:g} > 0 needs labels; "
                                 "use alpha=0 for label-free distillation")
            if target.shape[0] != student_logits.shape[0]:
                raise ValueError(f"target has {target.shape[0]} samples but student_logits has "
                                 f"{student_logits.shape[0]}")
            loss = loss + self.alpha * F.cross_entropy(student_logits, target)
        return loss


# ---- feature losses (FeatureHints) -------------------------------------------------------------

def _match_spatial(a: torch.Tensor, b: torch.Tensor):
    """Pool the larger feature map down to the smaller one so differently-strided layers can pair."""
    if a.dim() != 4 or a.shape[2:] == b.shape[2:]:
        return a, b
    size = (min(a.shape[2], b.shape[2]), min(a.shape[3], b.shape[3]))
    return F.adaptive_avg_pool2d(a, size), F.adaptive_avg_pool2d(b, size)


def _check_same_shape(s: torch.Tensor, t: torch.Tensor) -> None:
    # mse_loss would silently broadcast mismatched shapes; fail loudly instead.
    if s.shape != t.shape:
        raise ValueError(f"student feature {tuple(s.shape)} (after projection/pooling) cannot be "
                         f"compared with teacher feature {tuple(t.shape)}")


def mse_hint_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> torch.Tensor:
    s, t = _match_spatial(student_feat, teacher_feat)
    _check_same_shape(s, t)
    return F.mse_loss(s, t.detach())


def cosine_hint_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> torch.Tensor:
    """``1 - cos`` between per-sample flattened features: scale-free, unlike MSE."""
    s, t = _match_spatial(student_feat, teacher_feat)
    _check_same_shape(s, t)
    return 1.0 - F.cosine_similarity(s.flatten(1), t.detach().flatten(1), dim=1, eps=1e-8).mean()


def attention_map(feat: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """Zagoruyko & Komodakis (2017): channel-mean of |A|^p, flattened and L2-normalised per sample."""
    if feat.dim() < 3:
        raise ValueError("attention transfer needs feature maps with spatial dims (N, C, H, W) or "
                         f"(N, C, L); got shape {tuple(feat.shape)}")
    return F.normalize(feat.abs().pow(p).mean(dim=1).flatten(1), dim=1)


def attention_transfer_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor,
                            p: float = 2.0) -> torch.Tensor:
    """Channel widths may differ: attention maps only compare where each network looks."""
    s, t = _match_spatial(student_feat, teacher_feat)
    a_s, a_t = attention_map(s, p), attention_map(t.detach(), p)
    _check_same_shape(a_s, a_t)
    return (a_s - a_t).pow(2).mean()


FEATURE_LOSSES = {"mse": mse_hint_loss, "cosine": cosine_hint_loss,
                  "attention": attention_transfer_loss}
