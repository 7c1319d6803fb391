"""`nnslim demo`: the whole story on built-in data, in well under three minutes on 2 cores."""
from __future__ import annotations

import copy
import io
import time

import torch

from nnslim import datasets


def _state_bytes(model) -> int:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


def _latency_us(model, x, rounds: int = 30) -> float:
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        ts = []
        for _ in range(rounds):
            t = time.perf_counter()
            model(x)
            ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2] * 1e6


def run_demo(quick: bool = False, out=None, seed: int = 0):
    import nnslim
    from rich.console import Console
    from rich.table import Table

    console = Console()
    torch.manual_seed(seed)
    train, test = datasets.digits_loaders(seed=seed)
    console.print(f"[bold]nnslim demo[/bold]: digits (sklearn), kernels: {nnslim.cpu_info()['selected']}")
    model = datasets.train_classifier(datasets.DigitsCNN(32), train, epochs=2 if quick else 8, seed=seed)
    base_acc = datasets.accuracy(model, test)
    compressed = nnslim.quantize(copy.deepcopy(model), "int8_dynamic")
    acc = datasets.accuracy(compressed, test)
    x = torch.randn(1, 1, 8, 8)
    table = Table(title="nnslim demo: before / after")
    for col in ("", "accuracy %", "bytes", "latency us (batch 1)"):
        table.add_column(col)
    table.add_row("fp32", f"{base_acc:.2f}", f"{_state_bytes(model)}", f"{_latency_us(model, x):.0f}")
    table.add_row("compressed", f"{acc:.2f}", f"{_state_bytes(compressed)}", f"{_latency_us(compressed, x):.0f}")
    console.print(table)
    return {"accuracy_before": base_acc, "accuracy_after": acc}
