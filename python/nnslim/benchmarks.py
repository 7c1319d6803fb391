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


def _section(title: str, fn, quick: bool) -> str:
    try:
        return f"## {title}\n\n{fn(quick)}\n"
    except Exception as exc:  # one broken section must not hide the others
        return f"## {title}\n\nfailed: {type(exc).__name__}: {exc}\n"


def int8_linear_table(quick: bool = False) -> str:
    """Int8Linear vs fp32 nn.Linear and torch.ao dynamic int8 (best engine), interleaved."""
    import warnings

    import torch
    import torch.nn as nn

    from nnslim.nn import Int8Linear

    engines = [e for e in ("x86", "onednn", "fbgemm") if e in torch.backends.quantized.supported_engines]
    rows = []
    shapes = [(768, 768), (768, 3072)] if quick else [(768, 768), (768, 3072), (3072, 768), (4096, 4096)]
    for K, N in shapes:
        for M in ([1, 128] if quick else [1, 32, 128, 512]):
            torch.manual_seed(0)
            lin, x = nn.Linear(K, N), torch.randn(M, K)
            q = Int8Linear.from_float(lin)
            fns = {"fp32": lambda: lin(x), "nnslim": lambda: q(x)}
            for e in engines:
                import torch.ao.quantization as tq

                torch.backends.quantized.engine = e
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ao = tq.quantize_dynamic(nn.Sequential(lin), {nn.Linear}, dtype=torch.qint8)
                fns[f"ao_{e}"] = lambda ao=ao, e=e: (setattr(torch.backends.quantized, "engine", e), ao(x))
            with torch.inference_mode():
                t = interleaved_medians(fns, rounds=5 if quick else 11)
            best = min((v, k) for k, v in t.items() if k.startswith("ao_"))
            rows.append([M, K, N, f"{2 * M * N * K / t['nnslim'] / 1e9:.0f}", f"{t['nnslim'] * 1e6:.0f}",
                         f"{t['fp32'] / t['nnslim']:.2f}x", f"{best[0] / t['nnslim']:.2f}x ({best[1][3:]})"])
    return markdown_table(["M", "K", "N", "nnslim GOP/s", "nnslim us", "vs fp32", "vs best torch.ao"], rows)


def int8_conv_table(quick: bool = False) -> str:
    """Int8Conv2d (static) vs fp32 nn.Conv2d on ResNet-style 3x3 layers."""
    import torch
    import torch.nn as nn

    from nnslim.nn import Int8Conv2d

    rows = []
    layers = [(64, 56)] if quick else [(64, 56), (128, 28), (256, 14)]
    for c, hw in layers:
        for n in ([1] if quick else [1, 8]):
            torch.manual_seed(0)
            conv = nn.Conv2d(c, c, 3, padding=1).eval()
            x = torch.randn(n, c, hw, hw).relu()
            q = Int8Conv2d.from_float(conv, input_qparams=(x.max().item() / 255, -128))
            xc = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                t = interleaved_medians({"fp32": lambda: conv(x), "nnslim": lambda: q(xc)}, rounds=5 if quick else 9)
            rows.append([f"{c}ch {hw}x{hw}", n, f"{t['fp32'] * 1e3:.2f}", f"{t['nnslim'] * 1e3:.2f}",
                         f"{t['fp32'] / t['nnslim']:.2f}x"])
    return markdown_table(["3x3 layer", "batch", "fp32 ms", "nnslim ms", "speedup"], rows)


def int4_table(quick: bool = False) -> str:
    """Int4Linear vs Int8Linear on memory-bound decode shapes."""
    import torch
    import torch.nn as nn

    from nnslim.nn import Int4Linear, Int8Linear

    rows = []
    for K, N in ([(4096, 4096)] if quick else [(4096, 4096), (768, 3072)]):
        torch.manual_seed(0)
        lin = nn.Linear(K, N)
        q8, q4 = Int8Linear.from_float(lin), Int4Linear.from_float(lin)
        for M in ([1] if quick else [1, 4, 8]):
            x = torch.randn(M, K)
            with torch.inference_mode():
                t = interleaved_medians({"int8": lambda: q8(x), "int4": lambda: q4(x)}, rounds=5 if quick else 11)
            rows.append([M, K, N, f"{t['int8'] * 1e6:.0f}", f"{t['int4'] * 1e6:.0f}", f"{t['int8'] / t['int4']:.2f}x"])
    return markdown_table(["M", "K", "N", "Int8Linear us", "Int4Linear us", "int4 speedup"], rows)


def run_all(quick: bool = False) -> str:
    """Every kernel family against its torch peer; the tables `nnslim bench` prints."""
    import torch

    import nnslim

    info = nnslim.cpu_info()
    header = (f"{info['cpu']}; kernels available {', '.join(info['available'])}, selected {info['selected']}; "
              f"{torch.get_num_threads()} threads; torch {torch.__version__}; nnslim {nnslim.__version__}")
    parts = [f"# nnslim bench: {header}\n"]
    parts.append(_section("Int8Linear (dynamic) vs fp32 and torch.ao", int8_linear_table, quick))
    parts.append(_section("Int8Conv2d (static) vs fp32", int8_conv_table, quick))
    parts.append(_section("Int4Linear vs Int8Linear (decode shapes)", int4_table, quick))
    from nnslim.benchmarks_sparse import table as sparse_table

    parts.append(_section("SparseLinear / SparseConv2d vs dense and torch.sparse", sparse_table, quick))
    parts.append("## Summary (paste this)\n\n" + summarize(header, parts[1:]) + "\n")
    return "\n".join(parts)


def summarize(header: str, sections) -> str:
    """One line per ratio column of each table (cells like '1.23x' or '0.90x (fbgemm)'): geometric
    mean, min and max, e.g. 'vs best torch.ao 0.93x (geomean of 4; 0.87-0.99x)'."""
    import math
    import re

    lines = [header]
    for sec in sections:
        title, rows = "", []
        for line in sec.splitlines() + [""]:
            if line.startswith("|---"):
                continue
            if line.startswith("|"):
                rows.append([c.strip() for c in line.strip().strip("|").split("|")])
                continue
            if line.startswith("#"):
                title = line.lstrip("# ").strip()
            if len(rows) >= 2:  # a table just ended
                head, body = rows[0], rows[1:]
                for j, name in enumerate(head):
                    vals = [float(m.group(1)) for r in body
                            if j < len(r) and (m := re.match(r"([0-9]*\.?[0-9]+)x\b", r[j]))]
                    if vals and len(vals) == len(body) and all(v > 0 for v in vals):
                        gm = math.exp(sum(math.log(v) for v in vals) / len(vals))
                        lines.append(f"- {title}: {name} {gm:.2f}x (geomean of {len(vals)}; "
                                     f"{min(vals):.2f}-{max(vals):.2f}x)")
            rows = []
    return "\n".join(lines)
