"""Post-training and quantization-aware quantization of the digits CNN: accuracy of each observer,
int4 weight-only with and without QAT, power-of-two weights, and file sizes.

    python examples/quantize_digits.py [--seeds 0 1 2]
"""
import argparse
import copy
import os
import statistics
import tempfile

import torch

import nnslim
from nnslim import datasets
from nnslim.quantization.observers import OBSERVERS


def file_ratio(model, fp32_bytes):
    with tempfile.TemporaryDirectory() as d:
        nnslim.save(model, os.path.join(d, "m.nns"))
        return os.path.getsize(os.path.join(d, "m.nns")) / fp32_bytes


def run(seed):
    torch.manual_seed(seed)
    train, test = datasets.digits_loaders(seed=seed)
    model = datasets.train_classifier(datasets.DigitsCNN(32), train, epochs=10, seed=seed)
    with tempfile.TemporaryDirectory() as d:
        torch.save(model.state_dict(), os.path.join(d, "fp32.pt"))
        fp32_bytes = os.path.getsize(os.path.join(d, "fp32.pt"))
    calib = [x for x, _ in list(train)[:8]]
    rows = {"fp32": (datasets.accuracy(model, test), 1.0)}
    for obs in sorted(OBSERVERS):
        q = nnslim.quantize(copy.deepcopy(model), nnslim.Int8StaticConfig(observer=obs, progress=False),
                            calibration_data=calib)
        rows[f"int8 static ({obs})"] = (datasets.accuracy(q, test), file_ratio(q, fp32_bytes))
    mixed = {"features.*": nnslim.Int8StaticConfig(progress=False), "classifier.*": "int4_weight"}
    q4 = nnslim.quantize(copy.deepcopy(model), "int4_weight")
    rows["int4 weight-only PTQ (linears; convs fp32)"] = (datasets.accuracy(q4, test), file_ratio(q4, fp32_bytes))
    lg = nnslim.quantize(copy.deepcopy(model), "log2_weight")
    rows["log2 weight-only PTQ (linears; convs fp32)"] = (datasets.accuracy(lg, test), file_ratio(lg, fp32_bytes))
    qat = nnslim.prepare_qat(copy.deepcopy(model), nnslim.QATConfig(weights="int4", group_size=32))
    qat, _ = nnslim.distill(model, qat, train, nnslim.DistillConfig(epochs=3, lr=5e-4, progress=False, seed=seed),
                            val_data=test)
    nnslim.convert(qat)
    rows["int4 weight-only QAT (3 epochs KD)"] = (datasets.accuracy(qat, test), file_ratio(qat, fp32_bytes))
    mq = nnslim.quantize(copy.deepcopy(model), mixed, calibration_data=calib)
    rows["mixed: convs int8 static, linears int4"] = (datasets.accuracy(mq, test), file_ratio(mq, fp32_bytes))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    torch.set_num_threads(2)
    results = [run(s) for s in args.seeds]
    base = statistics.mean(r["fp32"][0] for r in results)
    print(f"| model (DigitsCNN width 32, mean of seeds {args.seeds}) | accuracy % | vs fp32 | file / fp32 file |")
    print("|---|---|---|---|")
    for name in results[0]:
        acc = statistics.mean(r[name][0] for r in results)
        size = statistics.mean(r[name][1] for r in results)
        print(f"| {name} | {acc:.2f} | {acc - base:+.2f} | {size:.3f} |")


if __name__ == "__main__":
    main()
