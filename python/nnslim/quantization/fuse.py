"""Conv/Linear + BatchNorm folding and ReLU detection, on Sequential-style chains."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn


@torch.no_grad()
def fold_bn_into(conv: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """w' = w * gamma / sqrt(var + eps) per output channel; b' = (b - mean) * gamma / sqrt(var + eps) + beta."""
    if bn.running_var is None or bn.running_mean is None:
        raise ValueError("cannot fold a BatchNorm without running statistics (track_running_stats=False)")
    std = torch.sqrt(bn.running_var + bn.eps)
    gamma = bn.weight if bn.affine else torch.ones_like(std)
    beta = bn.bias if bn.affine else torch.zeros_like(std)
    factor = gamma / std
    conv.weight.mul_(factor.reshape(-1, *([1] * (conv.weight.dim() - 1))))
    b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = (b - bn.running_mean) * factor + beta
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias)
    else:
        conv.bias.copy_(new_bias)


def fold_batchnorm(model: nn.Module) -> int:
    """Folds every BatchNorm that directly follows a Conv2d / Linear inside an nn.Sequential; the
    BatchNorm becomes Identity. Returns how many were folded. Only valid for inference (eval mode)."""
    folded = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            prev, cur = seq._modules[a], seq._modules[b]
            if (isinstance(prev, nn.Conv2d) and isinstance(cur, nn.BatchNorm2d) and
                    cur.num_features == prev.out_channels) or \
               (isinstance(prev, nn.Linear) and isinstance(cur, nn.BatchNorm1d) and
                    cur.num_features == prev.out_features):
                fold_bn_into(prev, cur)
                seq._modules[b] = nn.Identity()
                folded += 1
    return folded


def relu_followers(model: nn.Module) -> Dict[str, str]:
    """fqn of a Conv2d / Linear -> fqn of the ReLU right after it (skipping Identity) in a Sequential."""
    out = {}
    for seq_name, seq in model.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        prefix = f"{seq_name}." if seq_name else ""
        names = [n for n in seq._modules if not isinstance(seq._modules[n], nn.Identity)]
        for a, b in zip(names, names[1:]):
            if isinstance(seq._modules[a], (nn.Conv2d, nn.Linear)) and type(seq._modules[b]) is nn.ReLU:
                out[prefix + a] = prefix + b
    return out
