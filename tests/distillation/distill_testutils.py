"""Small models and data shared by the distillation tests (a uniquely named module, not conftest,
so `import` cannot pick up another directory's conftest)."""
import torch
import torch.nn as nn
from torch.utils.data import TensorDataset


def mlp(widths, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def blobs(n=128, dim=8, classes=4, seed=0):
    """A linearly separable-ish toy problem: fast to fit, so tests can check learning happened."""
    centers = torch.randn(classes, dim, generator=torch.Generator().manual_seed(1234)) * 3
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = centers[y] + torch.randn(n, dim, generator=g)
    return TensorDataset(x, y)
