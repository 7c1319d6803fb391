"""Accuracy of the 4-bit weight formats: linear int4 (group-wise) vs power-of-two (log2), with int8
per-channel as the yardstick. Relative Frobenius error of the reconstructed weights on random normal
matrices and on the linear layers of a trained DigitsCNN, and that model's test accuracy with its
linear layers converted.

    python bench/accuracy_q4.py [--epochs 10]       # prints markdown tables
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).parent))
from _timing import markdown_table  # noqa: E402

import nnslim  # noqa: E402
from nnslim.datasets import DigitsCNN, accuracy, digits_loaders, train_classifier  # noqa: E402
from nnslim.nn import Int4Linear, Int8Linear, Log2Linear  # noqa: E402
from nnslim.nn._common import per_channel_symmetric_int8  # noqa: E402
from nnslim.nn._q4 import LOG2_EXPONENTS, quantize_int4, unpack_nibbles  # noqa: E402
from nnslim.quantization import Int4WeightConfig  # noqa: E402


def _rel(a, b) -> float:
    return ((a - b).norm() / b.norm()).item()


def _int4(w, group, mse=True):
    codes, scales = quantize_int4(w, group, mse)
    q = (unpack_nibbles(codes, w.shape[1]) - 8).float()
    return q * scales.repeat_interleave(group, 1)[:, : w.shape[1]]


def _log2(w):
    return Log2Linear.from_float(_as_linear(w)).dequantized_weight()


def _log2_linear_rounding(w):
    """Not shipped: the same levels, rounded to the nearest level in the linear domain."""
    s = w.abs().amax(1, keepdim=True).clamp_min(1e-30)
    levels = torch.tensor([2.0 ** -e for e in range(LOG2_EXPONENTS)] + [0.0])
    r = (w.abs() / s).unsqueeze(-1)
    return torch.sign(w) * levels[(r - levels).abs().argmin(-1)] * s


def _int8(w):
    q, s = per_channel_symmetric_int8(w)
    return q.float() * s[:, None]


def _as_linear(w):
    lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(w)
    return lin


FORMATS = [
    ("int8 per-channel (reference)", _int8),
    ("int4 g32", lambda w: _int4(w, 32)),
    ("int4 g64", lambda w: _int4(w, 64)),
    ("int4 g128", lambda w: _int4(w, 128)),
    ("int4 g128, no MSE scale search", lambda w: _int4(w, 128, mse=False)),
    ("int4 per-channel (scale granularity of log2)", lambda w: _int4(w, w.shape[1])),
    ("log2 per-channel (shipped: log-domain rounding)", _log2),
    ("log2 per-channel, linear-domain rounding (not shipped)", _log2_linear_rounding),
]


def weight_error_table(layers) -> str:
    rows = []
    for name, fn in FORMATS:
        rows.append([name] + [f"{100 * _rel(fn(w), w):.2f}%" for w in layers.values()])
    return markdown_table(["format"] + list(layers), rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    torch.manual_seed(0)
    normal = {"normal 1024x1024": torch.randn(1024, 1024), "normal 3072x768": torch.randn(3072, 768)}
    print("## Weight reconstruction error, random normal (relative Frobenius)\n")
    print(weight_error_table(normal))

    train, test = digits_loaders()
    model = train_classifier(DigitsCNN(width=32), train, epochs=args.epochs)
    linears = {name: m.weight.detach().clone() for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    print("\n## Weight reconstruction error, trained DigitsCNN linear layers\n")
    print(weight_error_table({f"{k} {tuple(w.shape)}": w for k, w in linears.items()}))

    x_test = torch.cat([x for x, _ in test])
    with torch.no_grad():
        logits = model(x_test)
    rows = [["fp32", f"{accuracy(model, test):.2f}%", "-"]]
    for name, cfg in [("Int8Linear (int8_dynamic)", "int8_dynamic"),
                      ("Int4Linear g32", Int4WeightConfig(group_size=32)),
                      ("Int4Linear g128 (int4_weight)", "int4_weight"), ("Log2Linear (log2_weight)", "log2_weight")]:
        q = nnslim.quantize(copy.deepcopy(model), cfg)
        assert any(isinstance(m, (Int8Linear, Int4Linear, Log2Linear)) for m in q.modules())
        with torch.no_grad():
            err = _rel(q(x_test), logits)
        rows.append([name, f"{accuracy(q, test):.2f}%", f"{100 * err:.2f}%"])
    print("\n## DigitsCNN test accuracy, linear layers converted (convolutions stay fp32)\n")
    print(markdown_table(["model", "top-1 (449 test images)", "logit error vs fp32"], rows))


if __name__ == "__main__":
    main()
