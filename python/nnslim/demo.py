"""`nnslim demo`: the whole story on built-in data (sklearn digits), well under three minutes on 2 cores:
train a teacher, distil a 4x smaller student from its weights, prune it with KD fine-tuning, run the
pruned layers on CSR kernels where that is faster and the rest on int8 kernels, and report."""
from __future__ import annotations

import os
import time

import torch

from nnslim import datasets


def demo_recipe(quick: bool = False):
    import nnslim

    epochs = 1 if quick else 8
    return [
        nnslim.DistillStage(student=lambda: datasets.DigitsCNN(16), inherit=True,
                            config=nnslim.DistillConfig(epochs=epochs, lr=2e-3, progress=not quick)),
        nnslim.PruneStage(nnslim.PruneConfig(sparsity=0.8, method="magnitude", scope="global"),
                          finetune=nnslim.DistillConfig(epochs=epochs, lr=1e-3, progress=not quick),
                          gradual_steps=1 if quick else 2),
        nnslim.SparsifyStage(min_sparsity=0.75),
        nnslim.QuantizeStage("int8_static"),
    ]


def run_demo(quick: bool = False, out=None, seed: int = 0):
    import nnslim
    from rich.console import Console

    console = Console()
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    train, test = datasets.digits_loaders(seed=seed)
    console.print(f"[bold]nnslim demo[/bold] on sklearn digits: kernels {nnslim.cpu_info()['selected']}, "
                  f"{torch.get_num_threads()} threads")
    console.print("training the teacher (DigitsCNN width 32) ...")
    teacher = datasets.train_classifier(datasets.DigitsCNN(32), train, epochs=2 if quick else 10, seed=seed)
    example = next(iter(test))[0][:64]
    model, report = nnslim.compress(teacher, demo_recipe(quick), train_data=train, val_data=test,
                                    example_input=example, sweep=(0.5, 0.7, 0.8, 0.9, 0.95) if out else None)
    report.print()
    console.print(f"latency measured on a batch of {example.shape[0]} images, interleaved runs, median; "
                  f"total demo time {time.perf_counter() - t0:.0f} s")
    if out:
        os.makedirs(out, exist_ok=True)
        nnslim.save(model, os.path.join(out, "digits_student.nns"))
        report.save_json(os.path.join(out, "report.json"))
        for p in report.plot(out):
            console.print(f"wrote {p}")
        console.print(f"wrote {os.path.join(out, 'digits_student.nns')} and report.json")
    return model, report
