"""Whole-model int8_static on real CNN graphs (torchvision layouts: residual adds, depthwise convs,
squeeze-excite) at batch 1 (or --batch N), 224x224, against fp32 and torch.ao FX static int8 (x86 backend), timed
interleaved in one process; output cosine against fp32.

    python bench/bench_graph_int8.py [--quick] [--models resnet18,mobilenet_v2] [--torchvision | --timm] [--openvino] [--batch 8]

--torchvision builds the models from torchvision (needs a venv where it loads, see the README);
--timm from timm (`pip install timm` there; --models then takes timm names, e.g.
resnet18d,regnetx_002,mobilenetv3_large_100,efficientnet_b0); the default uses nnslim.models,
whose layouts and names match torchvision's.
"""
from __future__ import annotations

import argparse
import copy
import platform
import time
import warnings

import pytest
import torch
import torch.nn.functional as F

import nnslim
from nnslim import models
from nnslim.benchmarks import interleaved_medians, markdown_table

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large"]
SEVEN = "nnslim int8_static, activation_bits=7"


def build(name: str, torchvision: bool = False, timm: bool = False) -> torch.nn.Module:
    if timm:
        import timm as timm_lib

        from accuracy_timm_zoo import build as build_timm

        return build_timm(timm_lib, name)
    torch.manual_seed(0)
    if torchvision:
        import torchvision.models as tvm

        m = getattr(tvm, name)(weights=None)
    else:
        m = getattr(models, name)()
    return models.randomize_batchnorm(m).eval()


def _cos(a, b):
    return F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0).item()


def torch_ao_fx(model, example, calib):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(copy.deepcopy(model), get_default_qconfig_mapping("x86"), (example,))
        with torch.no_grad():
            for x in calib:
                prepared(x)
        return convert_fx(prepared)


def model_rows(name: str, rounds: int, torchvision: bool = False, calib_batches: int = 8, batch: int = 1,
               timm: bool = False):
    model = build(name, torchvision, timm)
    g = torch.Generator().manual_seed(1)
    calib = [torch.randn(1, 3, 224, 224, generator=g) for _ in range(calib_batches)]
    x = torch.randn(batch, 3, 224, 224, generator=g)
    t0 = time.perf_counter()
    ours = nnslim.quantize(model, nnslim.Int8StaticConfig(progress=False), calibration_data=calib)
    convert_s = time.perf_counter() - t0
    # 7-bit activations: what torch.ao's x86 qconfig quantizes to (reduce_range), and what lets the
    # AVX2 GEMM skip its sign handling.
    ours7 = nnslim.quantize(model, nnslim.Int8StaticConfig(progress=False, activation_bits=7), calibration_data=calib)
    ao = torch_ao_fx(model, x, calib)
    with torch.inference_mode():
        ref = model(x)
        cos = {"nnslim int8_static": _cos(ref, ours(x)), "torch.ao FX int8 (x86)": _cos(ref, ao(x)),
               SEVEN: _cos(ref, ours7(x))}
        t = interleaved_medians({"fp32": lambda: model(x), "torch.ao FX int8 (x86)": lambda: ao(x),
                                 "nnslim int8_static": lambda: ours(x), SEVEN: lambda: ours7(x)}, rounds=rounds)
    int8_nodes = sum(r["runs"] == "int8" for r in ours.meta["nnslim_report"])
    rows = []
    for k, v in t.items():
        rows.append([name, k, f"{v * 1e3:.2f}", f"{t['fp32'] / v:.2f}x",
                     "" if k == "fp32" else f"{t['torch.ao FX int8 (x86)'] / v:.2f}x",
                     "1" if k == "fp32" else f"{cos[k]:.5f}"])
    rows[2][1] += f" ({int8_nodes}/{len(ours.meta['nnslim_report'])} nodes int8, converted in {convert_s:.1f} s)"
    return rows, t


def openvino_rows(name: str, torchvision: bool, ours_s: dict, rounds: int, batch: int = 1):
    """OpenVINO fp32 / + NNCF int8 in a separate process (bench/openvino_int8.py); not interleaved."""
    import json
    import os
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openvino_int8.py")
    cmd = [sys.executable, script, name, "--rounds", str(rounds), "--batch", str(batch)] + \
        (["--torchvision"] if torchvision else [])
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(script))
    if r.returncode != 0:
        return [[name, "OpenVINO", "failed", "", "", r.stderr.strip().splitlines()[-1] if r.stderr else ""]]
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return [[name, f"OpenVINO {d['openvino']} fp32 (own process)", f"{d['fp32_ms']:.2f}", "", "", f"{d['fp32_cos']:.5f}"],
            [name, f"OpenVINO + NNCF {d['nncf']} int8 (own process)", f"{d['int8_ms']:.2f}",
             f"(nnslim at {d['int8_ms'] / (ours_s['nnslim int8_static'] * 1e3):.2f}x its speed, "
             f"{d['int8_ms'] / (ours_s[SEVEN] * 1e3):.2f}x with 7 bits)", "", f"{d['int8_cos']:.5f}"]]


def run_table(quick: bool = False, names=MODELS, torchvision: bool = False, openvino: bool = False,
              batch: int = 1, timm: bool = False) -> str:
    torch.set_num_threads(2)
    rounds = 5 if quick else 15
    rows = []
    for name in names:
        ours, times = model_rows(name, rounds, torchvision, batch=batch, timm=timm)
        rows += ours
        if openvino:
            rows += openvino_rows(name, torchvision, times, rounds, batch)
    return markdown_table(["model", "variant", "ms (median)", "vs fp32", "vs torch.ao FX", "cosine vs fp32"], rows)


@pytest.mark.parametrize("bits", [8, 7])
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_bench_graph_int8(benchmark, name, bits):
    torch.set_num_threads(2)
    model = build(name)
    calib = [torch.randn(1, 3, 224, 224) for _ in range(2)]
    q = nnslim.quantize(model, nnslim.Int8StaticConfig(progress=False, activation_bits=bits), calibration_data=calib)
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        benchmark(lambda: q(x))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--torchvision", action="store_true")
    ap.add_argument("--timm", action="store_true", help="timm's models (--models takes timm names)")
    ap.add_argument("--openvino", action="store_true", help="add OpenVINO fp32 / NNCF int8 rows (own process each)")
    ap.add_argument("--batch", type=int, default=1, help="images per timed call (calibration stays at batch 1)")
    args = ap.parse_args()
    print(f"# whole-model int8, {platform.processor() or platform.machine()}, {nnslim.cpu_info()['selected']}, "
          f"2 threads, batch {args.batch}, 224x224, torch {torch.__version__}"
          f"{', timm models' if args.timm else ', torchvision models' if args.torchvision else ', nnslim.models (torchvision layouts)'}\n")
    if args.timm and args.openvino:
        ap.error("--openvino builds torchvision / nnslim.models models only")
    print(run_table(args.quick, args.models.split(","), args.torchvision, args.openvino, args.batch, args.timm))
