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


class _DigitsBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + identity)


class DigitsResNet(nn.Module):
    """A ResNet for 8x8 digits (torchvision's BasicBlock layout: residual adds, 1x1 downsample shortcuts),
    so structured pruning can be measured for accuracy on a graph with coupled channels."""

    def __init__(self, width: int = 32, num_classes: int = 10):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(1, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        self.layer1 = nn.Sequential(_DigitsBlock(w, w, 1), _DigitsBlock(w, w, 1))
        self.layer2 = nn.Sequential(_DigitsBlock(w, 2 * w, 2), _DigitsBlock(2 * w, 2 * w, 1))
        self.layer3 = nn.Sequential(_DigitsBlock(2 * w, 4 * w, 2), _DigitsBlock(4 * w, 4 * w, 1))
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


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
