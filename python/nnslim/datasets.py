"""Built-in data and reference models: sklearn's bundled digits (no downloads) and small CNNs."""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


def load_digits_tensors(seed: int = 0, test_fraction: float = 0.25) -> Tuple[TensorDataset, TensorDataset]:
    """The 1797 8x8 digit images of scikit-learn, as (N, 1, 8, 8) float tensors in [0, 1]; split 75/25."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover
        raise RuntimeError("the built-in digits data needs scikit-learn: pip install 'nnslim[demo]'") from exc
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    n_test = int(len(x) * test_fraction)
    test_idx, train_idx = perm[:n_test], perm[n_test:]
    return TensorDataset(x[train_idx], y[train_idx]), TensorDataset(x[test_idx], y[test_idx])


def digits_loaders(batch_size: int = 64, seed: int = 0) -> Tuple[DataLoader, DataLoader]:
    train, test = load_digits_tensors(seed)
    g = torch.Generator().manual_seed(seed)
    return (DataLoader(train, batch_size=batch_size, shuffle=True, generator=g),
            DataLoader(test, batch_size=256, shuffle=False))


class DigitsCNN(nn.Module):
    """A small CNN for 8x8 digits: conv-bn-relu x2, pool, conv-bn-relu, global pool, linear head.

    ``width`` scales every layer, so a teacher (width 32) and narrower students share a layout
    (what weight inheritance needs).
    """

    def __init__(self, width: int = 32, num_classes: int = 10):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(4 * w * 16, 4 * w), nn.ReLU(inplace=True), nn.Linear(4 * w, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


@torch.no_grad()
def accuracy(model: nn.Module, loader) -> float:
    """Top-1 accuracy in percent over a loader of (x, y) batches."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, y in loader:
        correct += (model(x).argmax(-1) == y).sum().item()
        total += len(y)
    model.train(was_training)
    if total == 0:
        raise ValueError("accuracy: the loader yielded no samples")
    return 100.0 * correct / total


def train_classifier(model: nn.Module, loader, epochs: int = 10, lr: float = 1e-2, seed: int = 0) -> nn.Module:
    """Plain supervised training (Adam + cosine schedule); used for teachers and baselines."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * len(loader)))
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
    model.eval()
    return model
