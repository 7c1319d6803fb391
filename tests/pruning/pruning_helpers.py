"""Small models, data and hypothesis settings shared by the pruning tests."""
import torch
import torch.nn as nn
from hypothesis import settings


class MLP(nn.Module):
    def __init__(self, sizes=(8, 16, 12, 4), scales=None):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        if scales is not None:
            with torch.no_grad():
                for layer, s in zip(self.layers, scales):
                    layer.weight.mul_(s)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def batches(n=4, batch=16, features=8, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, features, generator=g), torch.randint(0, classes, (batch,), generator=g))
            for _ in range(n)]


# Applied per test rather than as a global profile, so other suites' hypothesis settings are untouched.
SMALL = settings(max_examples=25, deadline=None, derandomize=True)
