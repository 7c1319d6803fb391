"""``sparsity_report``: what pruning actually left in a model."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn as nn

from nnslim.pruning.masks import is_pruned, masked_weight
from nnslim.pruning.selection import PRUNABLE_TYPES

__all__ = ["LayerSparsity", "SparsityReport", "sparsity_report"]


@dataclass(frozen=True)
class LayerSparsity:
    name: str
    kind: str
    shape: Tuple[int, ...]
    numel: int
    nonzero: int
    masked: bool  # carries an nnslim mask (still trainable-sparse, not yet baked)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.numel if self.numel else 0.0


@dataclass(frozen=True)
class SparsityReport:
    layers: List[LayerSparsity]
    params: int  # every parameter of the model (shrinks with channel pruning)

    @property
    def total_numel(self) -> int:
        return sum(layer.numel for layer in self.layers)

    @property
    def total_nonzero(self) -> int:
        return sum(layer.nonzero for layer in self.layers)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.total_nonzero / self.total_numel if self.total_numel else 0.0

    def to_dict(self):
        return {"layers": [{**asdict(l), "sparsity": l.sparsity} for l in self.layers], "params": self.params,
                "total_numel": self.total_numel, "total_nonzero": self.total_nonzero, "sparsity": self.sparsity}

    def __str__(self) -> str:
        width = max([len(l.name) for l in self.layers] + [5])
        rows = [f"{'layer':<{width}}  {'shape':<18} {'nonzero':>10} {'numel':>10} {'sparsity':>8}"]
        for l in self.layers:
            shape = "x".join(map(str, l.shape)) + (" (m)" if l.masked else "")
            rows.append(f"{l.name:<{width}}  {shape:<18} {l.nonzero:>10} {l.numel:>10} {l.sparsity:>8.1%}")
        rows.append(f"{'total':<{width}}  {'':<18} {self.total_nonzero:>10} {self.total_numel:>10} "
                    f"{self.sparsity:>8.1%}")
        return "\n".join(rows)


@torch.no_grad()
def sparsity_report(model: nn.Module, filter_fn: Optional[Callable[[nn.Module, str], bool]] = None
                    ) -> SparsityReport:
    """Per-layer and total nonzero weights of every Linear/Conv2d (masked weights count as zero)."""
    layers = []
    for name, m in model.named_modules():
        if not isinstance(m, PRUNABLE_TYPES) or (filter_fn is not None and not filter_fn(m, name)):
            continue
        w = masked_weight(m)
        layers.append(LayerSparsity(name, type(m).__name__, tuple(w.shape), w.numel(),
                                    int(torch.count_nonzero(w)), is_pruned(m)))
    return SparsityReport(layers, sum(p.numel() for p in model.parameters()))
