"""Int8Linear vs fp32 nn.Linear, torch.ao dynamic int8 (x86 / onednn / fbgemm engines) and
torch._int_mm; plus the raw int8 GEMM at 2048^3. "7-bit": Int8DynamicConfig(activation_bits=7), the
activation width torch.ao's x86 dynamic layers use (reduce_range).

    python bench/bench_int8_linear.py [--quick]        # prints a markdown table
    pytest bench/bench_int8_linear.py --benchmark-only  # pytest-benchmark view
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).parent))
from nnslim.benchmarks import interleaved_medians, markdown_table  # noqa: E402

import nnslim  # noqa: E402
from nnslim._native import C, num_threads  # noqa: E402
from nnslim.nn import Int8Linear  # noqa: E402

SHAPES = [(768, 768), (768, 3072), (3072, 768), (4096, 4096)]
ROWS = [1, 32, 128, 512]
# decoding / online serving: the row counts where AMX machines switch to the VNNI kernel (issue 14)
DECODE_SHAPES = [(768, 3072), (3072, 768), (4096, 4096)]
DECODE_ROWS = [1, 4, 16]
ENGINES = [e for e in ("x86", "onednn", "fbgemm") if e in torch.backends.quantized.supported_engines]


def _ao_dynamic(linear: nn.Linear, engine: str):
    import torch.ao.quantization as tq

    torch.backends.quantized.engine = engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tq.quantize_dynamic(nn.Sequential(linear), {nn.Linear}, dtype=torch.qint8)


def contenders(M: int, K: int, N: int):
    torch.manual_seed(0)
    lin = nn.Linear(K, N)
    x = torch.randn(M, K)
    q = Int8Linear.from_float(lin)
    q7 = Int8Linear.from_float(lin, nnslim.Int8DynamicConfig(activation_bits=7))
    fns = {"fp32": lambda: lin(x), "nnslim": lambda: q(x), "nnslim7": lambda: q7(x)}
    for e in ENGINES:
        ao = _ao_dynamic(lin, e)
        fns[f"ao_{e}"] = (lambda ao=ao, e=e: (setattr(torch.backends.quantized, "engine", e), ao(x)))
    if M >= 17:  # torch._int_mm needs M > 16
        a = torch.randint(-127, 128, (M, K), dtype=torch.int8)
        bt = torch.randint(-127, 128, (N, K), dtype=torch.int8).t()
        fns["int_mm"] = lambda: torch._int_mm(a, bt)
    return fns


def run_table(quick: bool = False, shapes=None, ms=None) -> str:
    torch.set_num_threads(2)
    rows = []
    shapes = shapes or (SHAPES[:2] if quick else SHAPES)
    ms = ms or ([1, 128] if quick else ROWS)
    with torch.inference_mode():
        for K, N in shapes:
            for M in ms:
                t = interleaved_medians(contenders(M, K, N), rounds=5 if quick else 11)
                best_ao = min(v for k, v in t.items() if k.startswith("ao_"))
                gops = 2 * M * N * K / t["nnslim"] / 1e9
                rows.append([M, K, N, f"{gops:.0f}", f"{t['fp32'] / t['nnslim']:.2f}x",
                             f"{best_ao / t['nnslim']:.2f}x",
                             " / ".join(f"{t[k] * 1e6:.0f}" for k in t if k.startswith("ao_")),
                             f"{t['nnslim'] * 1e6:.0f}",
                             f"{t['int_mm'] / t['nnslim']:.2f}x" if "int_mm" in t else "-",
                             f"{t['nnslim7'] * 1e6:.0f}", f"{best_ao / t['nnslim7']:.2f}x"])
    head = ["M", "K", "N", "nnslim GOP/s", "vs fp32", "vs best torch.ao", "torch.ao us (" + "/".join(ENGINES) + ")",
            "nnslim us", "vs _int_mm", "7-bit us", "7-bit vs best torch.ao"]
    return markdown_table(head, rows)


def raw_gemm_table(n: int = 2048) -> str:
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    a = rng.integers(-127, 128, (n, n), dtype=np.int8)
    b = rng.integers(-127, 128, (n, n), dtype=np.int8)
    packed = C.PackedQs8Weights(b)
    ta, tbt = torch.from_numpy(a), torch.from_numpy(b).t()
    t = interleaved_medians({"nnslim": lambda: packed.gemm_s32(a, num_threads()),
                             "int_mm": lambda: torch._int_mm(ta, tbt)}, rounds=7)
    ops = 2 * n ** 3
    return markdown_table(["GEMM", "kernel", "nnslim TOPS", "torch._int_mm TOPS"],
                          [[f"{n}^3 s8s8s32", packed.isa, f"{ops / t['nnslim'] / 1e12:.2f}",
                            f"{ops / t['int_mm'] / 1e12:.2f}"]])


@pytest.mark.parametrize("K,N", SHAPES[:2])
@pytest.mark.parametrize("M", [1, 128])
@pytest.mark.parametrize("who", ["nnslim", "fp32", "ao_x86"])
def test_bench_int8_linear(benchmark, who, M, K, N):
    fns = contenders(M, K, N)
    with torch.inference_mode():
        benchmark(fns[who])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"# Int8Linear, {nnslim.cpu_info()['selected']}, {torch.get_num_threads()} threads\n")
    print(run_table(args.quick))
    from nnslim.nn._row_dispatch import SMALL_ROWS_KERNEL

    alt = SMALL_ROWS_KERNEL.get(nnslim.cpu_info()["selected"])
    print("\n# decode rows (M <= 16" + (f"; rows <= {alt[1]} run the {alt[0]} kernel" if alt else "") + ")\n")
    print(run_table(args.quick, DECODE_SHAPES, DECODE_ROWS))
    print()
    print(raw_gemm_table())
