"""Interleaved A/B timing: this machine is shared and noisy, so every contender runs once per round,
in turn, for several rounds, and we compare medians measured under the same conditions."""
from __future__ import annotations

import statistics
import time
from typing import Callable, Dict


def interleaved_medians(fns: Dict[str, Callable[[], object]], rounds: int = 15, inner: int = 0,
                        min_time: float = 0.02) -> Dict[str, float]:
    """Median seconds per call for each callable. ``inner`` calls per sample (auto: ~min_time)."""
    for f in fns.values():  # warm up: packing, allocator, thread pools
        f()
        f()
    if inner <= 0:
        inner = {}
        for name, f in fns.items():
            t = time.perf_counter()
            f()
            dt = max(time.perf_counter() - t, 1e-7)
            inner[name] = max(1, int(min_time / dt))
    else:
        inner = {name: inner for name in fns}
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, f in fns.items():
            n = inner[name]
            t = time.perf_counter()
            for _ in range(n):
                f()
            samples[name].append((time.perf_counter() - t) / n)
    return {name: statistics.median(v) for name, v in samples.items()}


def markdown_table(headers, rows) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)
