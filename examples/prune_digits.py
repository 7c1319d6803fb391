"""Prune DigitsCNN(width=32) on the built-in digits data and measure what it costs.

    PYTHONPATH=python python examples/prune_digits.py            # ~20 s per seed on one CPU thread
    PYTHONPATH=python python examples/prune_digits.py --seeds 0 1 2

Prints: the dense accuracy and a dense+fine-tuning control; one-shot global magnitude pruning +
fine-tuning at 50..95% sparsity; gradual (Zhu & Gupta cubic) pruning to 90% during fine-tuning; a
random-pruning baseline; 2:4; and channel pruning (params, accuracy).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from nnslim.datasets import DigitsCNN, accuracy, digits_loaders, train_classifier
from nnslim.pruning import PruneConfig, Pruner, prune, remove_masks, schedules, sparsity_report

SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95)


def finetune_gradual(model, loader, target, epochs, lr, seed):
    """Fine-tune while a cubic schedule raises sparsity to ``target`` over the first 2/3 of the steps."""
    torch.manual_seed(seed)
    steps = epochs * len(loader)
    pruner = Pruner(model, PruneConfig(sparsity=target),
                    schedules.Polynomial(end_step=2 * steps // 3, frequency=max(1, len(loader) // 2)))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
            pruner.step()
    model.eval()
    return remove_masks(model)


def run(seed, args):
    torch.manual_seed(seed)
    train, test = digits_loaders(seed=seed)
    dense = train_classifier(DigitsCNN(32), train, epochs=args.epochs, lr=1e-2, seed=seed)
    rows = {"dense": accuracy(dense, test), "params": sparsity_report(dense).params}
    # Control: the same fine-tuning without pruning, so gains from extra epochs aren't credited to pruning.
    control = train_classifier(copy.deepcopy(dense), train, epochs=args.ft_epochs, lr=args.ft_lr, seed=seed)
    rows["dense_ft"] = accuracy(control, test)

    for s in SPARSITIES:
        model = copy.deepcopy(dense)
        prune(model, PruneConfig(sparsity=s, method="magnitude", scope="global"))
        rows[f"oneshot{s}"] = accuracy(model, test)
        train_classifier(model, train, epochs=args.ft_epochs, lr=args.ft_lr, seed=seed)
        remove_masks(model)
        rep = sparsity_report(model)
        rows[f"ft{s}"] = accuracy(model, test)
        rows[f"measured{s}"] = rep.sparsity

    model = copy.deepcopy(dense)
    prune(model, PruneConfig(sparsity=0.9, method="random"))
    train_classifier(model, train, epochs=args.ft_epochs, lr=args.ft_lr, seed=seed)
    rows["random0.9"] = accuracy(model, test)

    model = copy.deepcopy(dense)
    # The first conv has a single input channel: no group of 4 along it, so it stays dense.
    prune(model, PruneConfig(pattern="2:4", skip=["@first"]))
    train_classifier(model, train, epochs=args.ft_epochs, lr=args.ft_lr, seed=seed)
    rows["nm24"] = accuracy(model, test)
    rows["nm24_sparsity"] = sparsity_report(model).sparsity

    model = copy.deepcopy(dense)
    # 4x1 blocks (4 output rows x 1 input): 90% of the blocks, one global ranking, the 1-channel stem dense.
    prune(model, PruneConfig(sparsity=0.9, pattern="4x1", skip=["@first"]))
    rows["block_oneshot"] = accuracy(model, test)
    train_classifier(model, train, epochs=args.ft_epochs, lr=args.ft_lr, seed=seed)
    remove_masks(model)
    rows["block"] = accuracy(model, test)
    rows["block_sparsity"] = sparsity_report(model).sparsity

    model = finetune_gradual(copy.deepcopy(dense), train, 0.9, args.ft_epochs, args.ft_lr, seed)
    rows["gradual0.9"] = accuracy(model, test)

    model = copy.deepcopy(dense)
    prune(model, PruneConfig(sparsity=args.channel_sparsity, pattern="channel", scope="layer", channel_norm="l1",
                             protect=("@last",)))
    rows["channel_oneshot"] = accuracy(model, test)
    train_classifier(model, train, epochs=args.ft_epochs, lr=args.ft_lr, seed=seed)
    rows["channel_ft"] = accuracy(model, test)
    rows["channel_params"] = sparsity_report(model).params
    rows["channel_shapes"] = [l.shape for l in sparsity_report(model).layers]
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=15, help="dense training epochs")
    p.add_argument("--ft-epochs", type=int, default=5, help="fine-tuning epochs after pruning")
    p.add_argument("--ft-lr", type=float, default=2e-3)
    p.add_argument("--channel-sparsity", type=float, default=0.5, help="fraction of channels per layer")
    args = p.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    runs = [run(seed, args) for seed in args.seeds]

    def mean(key):
        return statistics.mean(r[key] for r in runs)

    def worst(key):  # the worst per-seed change vs that seed's own dense model
        return min(r[key] - r["dense"] for r in runs)

    def fmt(key):
        vals = [r[key] for r in runs]
        return f"{mean(key):6.2f}" + (f" (min {min(vals):.2f}, max {max(vals):.2f})" if len(vals) > 1 else "")

    print(f"DigitsCNN(32) on digits, test accuracy %, seeds {args.seeds}")
    print(f"dense                      {fmt('dense')}   params {runs[0]['params']}")
    print(f"dense + same fine-tuning   {fmt('dense_ft')}   (control)")
    print("global magnitude, one-shot then fine-tune "
          f"{args.ft_epochs} epochs (lr {args.ft_lr}):")
    print("  sparsity  no-finetune  finetuned   delta-vs-dense (worst seed)")
    for s in SPARSITIES:
        print(f"  {mean(f'measured{s}'):7.1%}  {mean(f'oneshot{s}'):10.2f}  {fmt(f'ft{s}')}  "
              f"{mean(f'ft{s}') - mean('dense'):+.2f} ({worst(f'ft{s}'):+.2f})")
    print(f"gradual cubic to 90% while fine-tuning: {fmt('gradual0.9')}  "
          f"delta {mean('gradual0.9') - mean('dense'):+.2f} ({worst('gradual0.9'):+.2f})")
    print(f"random pruning 90% + fine-tune (baseline): {fmt('random0.9')}")
    print(f"2:4 (all but the first conv, {mean('nm24_sparsity'):.1%} overall) + fine-tune: {fmt('nm24')}  "
          f"delta {mean('nm24') - mean('dense'):+.2f} ({worst('nm24'):+.2f})")
    print(f"4x1 blocks, 90% global, stem dense ({mean('block_sparsity'):.1%} overall): "
          f"no-finetune {mean('block_oneshot'):.2f}, finetuned {fmt('block')}  "
          f"delta {mean('block') - mean('dense'):+.2f} ({worst('block'):+.2f})")
    print(f"channel pruning {args.channel_sparsity:.0%} of channels per layer (L1, last layer kept): "
          f"params {runs[0]['params']} -> {runs[0]['channel_params']} "
          f"({runs[0]['channel_params'] / runs[0]['params']:.1%}), no-finetune {mean('channel_oneshot'):.2f}, "
          f"finetuned {fmt('channel_ft')}, delta {mean('channel_ft') - mean('dense'):+.2f} "
          f"({worst('channel_ft'):+.2f})")
    print(f"  shapes: {runs[0]['channel_shapes']}")
    print(f"[{time.time() - start:.0f} s]")


if __name__ == "__main__":
    main()
