"""Accuracy of channel pruning on a residual CNN (nnslim.datasets.DigitsResNet, digits 8x8): one-shot
and iterative pruning with KD fine-tuning from the unpruned model, against the measured speedup
(batch 64, 2 threads, interleaved with the unpruned model). Writes a markdown table and, with
matplotlib installed, an accuracy-vs-speedup plot.

    python bench/accuracy_structured.py [--seeds 3] [--epochs 30] [--plot docs/structured_accuracy.png]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import warnings

import torch

import nnslim
from nnslim.benchmarks import interleaved_medians, markdown_table
from nnslim.datasets import DigitsResNet, accuracy, digits_loaders, train_classifier
from nnslim.distillation import DistillConfig, distill
from nnslim.pruning import PruneConfig, Pruner, prune, schedules


def _speedup(teacher, student, x) -> float:
    with torch.inference_mode():
        t = interleaved_medians({"t": lambda: teacher(x), "s": lambda: student(x)}, rounds=9)
    return t["t"] / t["s"]


def run(seeds: int, epochs: int, ft_epochs: int, sparsities):
    rows, curve = [], []
    train, test = digits_loaders(batch_size=64)
    x64 = next(iter(test))[0][:64]
    example = x64[:1]
    results = {}
    for seed in range(seeds):
        teacher = train_classifier(DigitsResNet(32), train, epochs=epochs, seed=seed)
        base = accuracy(teacher, test)
        results.setdefault("unpruned", []).append((base, base, 1.0))
        for s in sparsities:
            student = copy.deepcopy(teacher)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prune(student, PruneConfig(sparsity=s, pattern="channel"), example_input=example)
            before = accuracy(student, test)
            student, _ = distill(teacher, student, train, DistillConfig(epochs=ft_epochs, seed=seed, progress=False))
            results.setdefault(f"one-shot {s:.0%}", []).append((before, accuracy(student, test),
                                                               _speedup(teacher, student, x64)))
        # Iterative: three steps of the cubic schedule to 50%, KD fine-tuning after each step.
        student = copy.deepcopy(teacher)
        per = max(1, ft_epochs // 3)
        pruner = Pruner(student, PruneConfig(sparsity=0.5, pattern="channel"),
                        schedules.Polynomial(begin_step=0, end_step=3, frequency=1), on_shrink=lambda m: None,
                        example_input=example)
        for _ in range(4):  # t = 0 is the schedule's 0%; t = 1, 2, 3 prune to 35%, 48%, 50%
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pruned = pruner.step() and pruner.last_result
            if pruned:
                student, _ = distill(teacher, student, train, DistillConfig(epochs=per, seed=seed, progress=False))
        results.setdefault("iterative 50% (3 steps)", []).append((float("nan"), accuracy(student, test),
                                                                 _speedup(teacher, student, x64)))
    base = statistics.median(r[0] for r in results["unpruned"])
    for name, rs in results.items():
        before = statistics.median(r[0] for r in rs)
        after = statistics.median(r[1] for r in rs)
        speed = statistics.median(r[2] for r in rs)
        rows.append([name, "-" if before != before else f"{before:.2f}", f"{after:.2f}", f"{after - base:+.2f}",
                     f"{speed:.2f}x"])
        curve.append((name, speed, after))
    return rows, curve


def plot(curve, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(matplotlib not installed: no plot at {path})")
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, speed, acc in curve:
        ax.scatter(speed, acc, marker="o" if "one-shot" in name or name == "unpruned" else "s")
        ax.annotate(name, (speed, acc), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("measured speedup vs unpruned (batch 64, 2 threads)")
    ax.set_ylabel("test accuracy after KD fine-tune (%)")
    ax.set_title("DigitsResNet channel pruning")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--ft-epochs", type=int, default=15)
    ap.add_argument("--plot", default="")
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows, curve = run(args.seeds, args.epochs, args.ft_epochs, (0.25, 0.5, 0.625, 0.75))
    print(f"# DigitsResNet(32) channel pruning + KD fine-tune, {nnslim.cpu_info().get('cpu', '')}, medians of "
          f"{args.seeds} seeds, teacher {args.epochs} epochs, fine-tune {args.ft_epochs} epochs\n")
    print(markdown_table(["variant", "acc. pruned, before fine-tune", "acc. after KD fine-tune", "vs unpruned",
                          "measured speedup"], rows))
    if args.plot:
        plot(curve, args.plot)
