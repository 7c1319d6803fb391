"""Small helpers shared across the package."""
from __future__ import annotations

import torch.nn as nn


def set_submodule(model: nn.Module, fqn: str, new: nn.Module) -> None:
    """Replaces the submodule at dotted name ``fqn`` (e.g. "features.0") with ``new``."""
    parent_name, _, child = fqn.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
