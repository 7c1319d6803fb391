"""Compress a CNN end to end with nnslim.compress: distil into a narrower student (inheriting the
teacher's most important filters), prune with KD fine-tuning, quantize to int8 and report.

    python examples/compress_cnn.py [--out out/]
"""
import argparse

import torch

import nnslim
from nnslim import datasets

ap = argparse.ArgumentParser()
ap.add_argument("--out", default=None)
args = ap.parse_args()

torch.manual_seed(0)
train, test = datasets.digits_loaders()
teacher = datasets.train_classifier(datasets.DigitsCNN(32), train, epochs=6)

recipe = [
    nnslim.DistillStage(student=lambda: datasets.DigitsCNN(16), inherit=True, config=nnslim.DistillConfig(epochs=4)),
    nnslim.PruneStage(nnslim.PruneConfig(sparsity=0.8), finetune=nnslim.DistillConfig(epochs=2, lr=5e-4)),
    nnslim.QuantizeStage("int8_static"),
]
model, report = nnslim.compress(teacher, recipe, train_data=train, val_data=test,
                                example_input=next(iter(test))[0][:64])
report.print()
if args.out:
    nnslim.save(model, f"{args.out}/cnn.nns")
    report.save_json(f"{args.out}/cnn_report.json")
    report.plot(args.out)
