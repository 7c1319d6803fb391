"""Prune a model gradually (Zhu & Gupta cubic schedule driven by nnslim.Pruner in your own training
loop), then run the pruned layers on nnslim's CSR kernels with nnslim.sparsify and measure.

    python examples/prune_sparsify.py
"""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim import datasets
from nnslim.benchmarks import interleaved_medians
from nnslim.pruning import schedules

torch.manual_seed(0)
train, test = datasets.digits_loaders()
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                      nn.Linear(1024, 10))
model = datasets.train_classifier(model, train, epochs=5)
dense_acc = datasets.accuracy(model, test)

steps = 10 * len(train)
pruner = nnslim.Pruner(model, nnslim.PruneConfig(sparsity=0.9, skip=["5"]),
                       schedule=schedules.Polynomial(begin_step=0, end_step=steps // 2, frequency=len(train) // 2))
opt = torch.optim.Adam(model.parameters(), lr=5e-4)
for epoch in range(10):
    for x, y in train:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        pruner.step()
model.eval()
print(f"dense accuracy {dense_acc:.2f}  pruned ({pruner.current_sparsity:.0%}) accuracy {datasets.accuracy(model, test):.2f}")
print(nnslim.sparsity_report(model))

dense = copy.deepcopy(model)
nnslim.remove_masks(dense)
sparse = nnslim.sparsify(copy.deepcopy(model), min_sparsity=0.5)
print(sparse)
x = torch.rand(256, 1, 8, 8)
with torch.inference_mode():
    t = interleaved_medians({"dense": lambda: dense(x), "sparse": lambda: sparse(x)}, rounds=9)
print(f"sparse accuracy {datasets.accuracy(sparse, test):.2f}; batch 256: dense {t['dense'] * 1e3:.2f} ms, "
      f"sparse {t['sparse'] * 1e3:.2f} ms ({t['dense'] / t['sparse']:.2f}x)")
