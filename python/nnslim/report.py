"""CompressionReport: what compression did to each layer and to the whole model, measured."""
from __future__ import annotations

import io
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import torch
import torch.nn as nn


def _bits_of(module: nn.Module) -> int:
    return int(getattr(module, "bits", 32))


def _state_bytes(module: nn.Module) -> int:
    sd = module.state_dict()
    total = 0
    for k, v in sd.items():
        if isinstance(v, torch.Tensor) and not k.endswith("weight_mask"):
            total += v.numel() * v.element_size()
    return total


def file_bytes(model: nn.Module) -> int:
    """Bytes of the model as nnslim.save writes it (masks baked in)."""
    import os
    import tempfile

    from nnslim.io import save

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.nns")
        save(model, p)
        return os.path.getsize(p)


def _weight_of(module: nn.Module) -> Optional[torch.Tensor]:
    from nnslim.pruning.masks import is_pruned, masked_weight

    if is_pruned(module):
        return masked_weight(module)
    # Stored weights first: a drop-in's ``weight`` is a WeightView that dequantizes when read.
    for name in ("weight_int8", "values", "block_values", "weight_packed", "weight"):
        t = getattr(module, name, None)
        if isinstance(t, torch.Tensor):
            return t
    return None


@dataclass
class LayerStats:
    name: str
    type: str
    params: int
    nonzeros: int
    bits: int
    bytes: int
    latency_us_before: Optional[float] = None
    latency_us_after: Optional[float] = None
    sparsify: Optional[str] = None  # the form sparsify chose and why ("sparse_int8: measured 2.17x dense int8")


def layer_stats(model: nn.Module) -> Dict[str, LayerStats]:
    out = {}
    for fqn, m in model.named_modules():
        if not fqn or any(True for _ in m.children()):
            continue
        w = _weight_of(m)
        if w is None:
            continue
        dense_shape = getattr(m, "_dense_shape", None)  # CSR layers: count the dense weight they stand for
        params = math.prod(dense_shape()) if callable(dense_shape) else w.numel()
        nnz = int(getattr(m, "nnz", None) or torch.count_nonzero(w).item())
        out[fqn] = LayerStats(fqn, type(m).__name__, int(params), nnz, _bits_of(m), _state_bytes(m))
    return out


@torch.inference_mode()
def interleaved_latency(before: nn.Module, after: nn.Module, example_input, rounds: int = 15):
    """Median seconds of each model, run alternately so machine noise hits both alike."""
    before.eval()
    after.eval()
    for _ in range(3):
        before(example_input)
        after(example_input)
    tb, ta = [], []
    for _ in range(rounds):
        for model, acc in ((before, tb), (after, ta)):
            t = time.perf_counter()
            model(example_input)
            acc.append(time.perf_counter() - t)
    return statistics.median(tb), statistics.median(ta)


@torch.inference_mode()
def per_layer_latency(model: nn.Module, example_input, rounds: int = 10) -> Dict[str, float]:
    """Median microseconds spent in each leaf module (forward hooks around it)."""
    starts, samples = {}, {}
    handles = []
    for fqn, m in model.named_modules():
        if fqn and not any(True for _ in m.children()):
            handles.append(m.register_forward_pre_hook(lambda mod, a, fqn=fqn: starts.__setitem__(fqn, time.perf_counter())))
            handles.append(m.register_forward_hook(
                lambda mod, a, o, fqn=fqn: samples.setdefault(fqn, []).append(time.perf_counter() - starts[fqn])))
    try:
        model.eval()
        model(example_input)
        samples.clear()
        for _ in range(rounds):
            model(example_input)
    finally:
        for h in handles:
            h.remove()
    return {k: statistics.median(v) * 1e6 for k, v in samples.items()}


@dataclass
class CompressionReport:
    stages: List[Dict[str, Any]] = field(default_factory=list)
    layers_before: Dict[str, LayerStats] = field(default_factory=dict)
    layers_after: Dict[str, LayerStats] = field(default_factory=dict)
    metric_name: str = "accuracy"
    metric_before: Optional[float] = None
    metric_after: Optional[float] = None
    latency_ms_before: Optional[float] = None
    latency_ms_after: Optional[float] = None
    file_bytes_before: Optional[int] = None
    file_bytes_after: Optional[int] = None
    kernels: Optional[str] = None
    sweep: List[Dict[str, float]] = field(default_factory=list)

    def totals(self, which: str) -> Dict[str, int]:
        layers = self.layers_before if which == "before" else self.layers_after
        return {"params": sum(l.params for l in layers.values()), "nonzeros": sum(l.nonzeros for l in layers.values()),
                "bytes": sum(l.bytes for l in layers.values())}

    @property
    def speedup(self) -> Optional[float]:
        if self.latency_ms_before and self.latency_ms_after:
            return self.latency_ms_before / self.latency_ms_after
        return None

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["totals_before"], d["totals_after"] = self.totals("before"), self.totals("after")
        d["speedup"] = self.speedup
        return d

    def save_json(self, path) -> None:
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=2)

    def summary_rows(self):
        tb, ta = self.totals("before"), self.totals("after")

        def fmt(v, spec):
            return "-" if v is None else format(v, spec)

        return [
            (self.metric_name, fmt(self.metric_before, ".2f"), fmt(self.metric_after, ".2f"), ""),
            ("parameters (nonzero)", f"{tb['nonzeros']:,}", f"{ta['nonzeros']:,}",
             f"{tb['nonzeros'] / max(ta['nonzeros'], 1):.1f}x fewer"),
            ("file bytes", fmt(self.file_bytes_before, ","), fmt(self.file_bytes_after, ","),
             f"{self.file_bytes_before / self.file_bytes_after:.1f}x smaller"
             if self.file_bytes_before and self.file_bytes_after else ""),
            ("latency ms (median)", fmt(self.latency_ms_before, ".3f"), fmt(self.latency_ms_after, ".3f"),
             f"{self.speedup:.2f}x faster" if self.speedup else ""),
        ]

    def table(self) -> str:
        """Plain-text rendering (also what __str__ gives)."""
        buf = io.StringIO()
        self.print(file=buf)
        return buf.getvalue()

    __str__ = table

    def print(self, file=None) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console(file=file, width=120)
        t = Table(title=f"nnslim compression report ({self.kernels or 'cpu'})")
        for c in ("", "before", "after", "change"):
            t.add_column(c)
        for row in self.summary_rows():
            t.add_row(*row)
        console.print(t)
        lt = Table(title="per layer")
        forms = any(a.sparsify for a in self.layers_after.values())
        for c in ("layer", "type", "params", "nonzeros", "bits", "bytes", "us before", "us after") + (
                ("sparsify",) if forms else ()):
            lt.add_column(c)
        for name, a in self.layers_after.items():
            lt.add_row(name, a.type, f"{a.params:,}", f"{a.nonzeros:,}", str(a.bits), f"{a.bytes:,}",
                       "-" if a.latency_us_before is None else f"{a.latency_us_before:.0f}",
                       "-" if a.latency_us_after is None else f"{a.latency_us_after:.0f}",
                       *((a.sparsify or "",) if forms else ()))
        console.print(lt)
        if self.stages:
            st = Table(title="stages")
            for c in ("stage", "seconds", "metric after", "notes"):
                st.add_column(c)
            for s in self.stages:
                st.add_row(s["stage"], f"{s.get('seconds', 0):.1f}",
                           "-" if s.get("metric") is None else f"{s['metric']:.2f}", s.get("notes", ""))
            console.print(st)

    def plot(self, directory) -> List[str]:
        """Writes latency_per_layer.png (and sparsity_sweep.png when a sweep was run); returns paths."""
        import os

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        paths = []
        names = [n for n, a in self.layers_after.items() if a.latency_us_after is not None]
        if names:
            fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.8), 4))
            xs = range(len(names))
            before = [self.layers_after[n].latency_us_before or 0 for n in names]
            after = [self.layers_after[n].latency_us_after for n in names]
            ax.bar([x - 0.2 for x in xs], before, 0.4, label="before")
            ax.bar([x + 0.2 for x in xs], after, 0.4, label="after")
            ax.set_xticks(list(xs))
            ax.set_xticklabels(names, rotation=45, ha="right")
            ax.set_ylabel("median us per call")
            ax.set_title("latency per layer, before / after compression")
            ax.legend()
            fig.tight_layout()
            p = os.path.join(directory, "latency_per_layer.png")
            fig.savefig(p)
            plt.close(fig)
            paths.append(p)
        if self.sweep:
            fig, ax = plt.subplots(figsize=(5, 4))
            ax.plot([s["sparsity"] * 100 for s in self.sweep], [s["metric"] for s in self.sweep], marker="o")
            ax.set_xlabel("sparsity %")
            ax.set_ylabel(self.metric_name)
            ax.set_title("original model, one-shot global magnitude pruning")
            fig.tight_layout()
            p = os.path.join(directory, "sparsity_sweep.png")
            fig.savefig(p)
            plt.close(fig)
            paths.append(p)
        return paths
