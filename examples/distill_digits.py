"""Distillation on scikit-learn's digits: a DigitsCNN(32) teacher, students at 1/4 and 1/16 of its size.

For every student width, training budget and seed, the same random init is trained five ways with the
same optimiser, schedule and data order: plain cross-entropy (scratch), Hinton KD, KD plus attention
hints, and both again after ``inherit_weights`` from the teacher. The best epoch on a validation split
carved from the training set is kept; the table reports test accuracy (mean +- std over seeds).

    PYTHONPATH=python python examples/distill_digits.py            # ~100 s on one core
    PYTHONPATH=python python examples/distill_digits.py --seeds 0 1 --scenarios 2   # quicker
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from nnslim.datasets import DigitsCNN, accuracy, load_digits_tensors, train_classifier
from nnslim.distillation import DistillConfig, distill, inherit_weights

# Attention maps after the second conv block (8x8) and the last one (4x4): width-agnostic hints.
HINTS = {"features.5": "features.5", "features.9": "features.9"}

METHODS = {  # name -> (inherit from teacher?, alpha, hints)
    "scratch (CE)": (False, 1.0, None),
    "KD": (False, None, None),
    "KD + AT hints": (False, None, HINTS),
    "inherit + CE": (True, 1.0, None),
    "inherit + KD": (True, None, None),
}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def split_validation(train: TensorDataset, fraction: float = 0.2, seed: int = 0):
    x, y = train.tensors
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_val = int(len(x) * fraction)
    return TensorDataset(x[perm[n_val:]], y[perm[n_val:]]), TensorDataset(x[perm[:n_val]], y[perm[:n_val]])


def parse_scenario(text: str):
    """"8" -> 8 epochs on all training data; "30@0.1" -> 30 epochs on a fixed 10% of it."""
    epochs, _, fraction = text.partition("@")
    return int(epochs), float(fraction or 1.0)


def subset(data: TensorDataset, fraction: float) -> TensorDataset:
    if fraction >= 1.0:
        return data
    n = max(1, int(len(data) * fraction))
    return TensorDataset(*(t[:n] for t in data.tensors))  # already shuffled by load_digits_tensors


def run_one(teacher, width, seed, budget, method, train, val, args) -> float:
    inherit, alpha, hints = METHODS[method]
    torch.manual_seed(seed)
    student = DigitsCNN(width)  # same init for every method at a given seed
    if inherit:
        inherit_weights(teacher, student)
    config = DistillConfig(temperature=args.temperature, alpha=args.alpha if alpha is None else alpha,
                           epochs=budget, lr=args.lr, batch_size=64, hints=hints, hint_loss="attention",
                           hint_weight=args.hint_weight, seed=seed, progress=False, keep_best=True)
    distill(teacher, student, train, config, val_data=val)
    return accuracy(student, args.test_loader)


def fmt(values) -> str:
    mean = statistics.mean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {std:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 8])
    parser.add_argument("--scenarios", nargs="+", default=["2", "8", "30@0.1"],
                        help="student budgets: EPOCHS or EPOCHS@TRAIN_FRACTION")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--teacher-epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--hint-weight", type=float, default=100.0)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    train_all, test = load_digits_tensors(seed=0)
    train, val = split_validation(train_all)
    args.test_loader = DataLoader(test, batch_size=256)
    torch.manual_seed(0)
    teacher = DigitsCNN(32)
    train_classifier(teacher, DataLoader(train, batch_size=64, shuffle=True,
                                         generator=torch.Generator().manual_seed(0)),
                     epochs=args.teacher_epochs, lr=3e-3, seed=0)
    teacher_acc = accuracy(teacher, args.test_loader)
    print(f"teacher DigitsCNN(32): {n_params(teacher):,} params, test accuracy {teacher_acc:.1f}%  "
          f"(train {len(train)}, val {len(val)}, test {len(test)})")

    rows = []
    for width in args.widths:
        ratio = n_params(teacher) / n_params(DigitsCNN(width))
        inherited = DigitsCNN(width)
        inherit_weights(teacher, inherited)  # overwrites every weight: the same for all seeds
        print(f"DigitsCNN({width}): {n_params(inherited):,} params (1/{ratio:.1f}); inherited weights "
              f"before any training: {accuracy(inherited, args.test_loader):.1f}%", flush=True)
        for scenario in args.scenarios:
            budget, fraction = parse_scenario(scenario)
            part = subset(train, fraction)
            accs = {m: [run_one(teacher, width, s, budget, m, part, val, args) for s in args.seeds]
                    for m in args.methods}
            label = f"{budget}" + ("" if fraction >= 1.0 else f" ({len(part)} train samples)")
            rows.append((width, ratio, label, accs))
            print(f"  width {width}, {label} epochs: " + ", ".join(f"{m} {fmt(a)}" for m, a in accs.items()),
                  flush=True)

    print(f"\nTest accuracy (%) mean ± std over seeds {args.seeds}; teacher {teacher_acc:.1f}%; "
          f"KD alpha={args.alpha} T={args.temperature}, Adam lr={args.lr}, cosine, batch 64\n")
    print("| student | params (1/x of teacher) | epochs | " + " | ".join(args.methods) + " |")
    print("|---|---|---|" + "---|" * len(args.methods))
    for width, ratio, budget, accs in rows:
        print(f"| DigitsCNN({width}) | 1/{ratio:.1f} | {budget} | "
              + " | ".join(fmt(accs[m]) for m in args.methods) + " |")
    if "scratch (CE)" in args.methods:
        print("\nDifference to scratch, percentage points (mean of per-seed differences; "
              "seeds where not worse / seeds):\n")
        others = [m for m in args.methods if m != "scratch (CE)"]
        print("| student | epochs | " + " | ".join(others) + " |")
        print("|---|---|" + "---|" * len(others))
        for width, _, budget, accs in rows:
            base = accs["scratch (CE)"]
            cells = []
            for m in others:
                diff = statistics.mean(a - b for a, b in zip(accs[m], base))
                wins = sum(a >= b for a, b in zip(accs[m], base))
                cells.append(f"{diff:+.1f} ({wins}/{len(base)})")
            print(f"| DigitsCNN({width}) | {budget} | " + " | ".join(cells) + " |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
