"""OpenVINO fp32 and OpenVINO + NNCF int8 latency of one model, in a process of its own (OpenVINO's
threads and torch's OpenMP threads fight when interleaved). bench_graph_int8.py --openvino runs it.

    python bench/openvino_int8.py resnet18 [--torchvision] [--rounds 15]   # prints one JSON line

Needs `pip install openvino nncf`. Same models, BatchNorm statistics and calibration images as
bench_graph_int8.py; fp32 is forced to f32 (on AMX CPUs OpenVINO's default runs bf16).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--torchvision", action="store_true")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    import nncf
    import openvino as ov

    from bench_graph_int8 import build

    model = build(args.model, args.torchvision)
    g = torch.Generator().manual_seed(1)
    calib = [torch.randn(1, 3, 224, 224, generator=g) for _ in range(8)]
    x = torch.randn(args.batch, 3, 224, 224, generator=g)
    with torch.no_grad():
        ref = model(x).numpy().ravel()
    core = ov.Core()
    cfg = {"INFERENCE_NUM_THREADS": 2, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    ov_fp32 = ov.convert_model(model, example_input=calib[0])  # batch 1: the calibration images' shape
    t0 = time.perf_counter()
    ov_int8 = nncf.quantize(ov_fp32, nncf.Dataset([c.numpy() for c in calib]), subset_size=len(calib))
    quantize_s = time.perf_counter() - t0
    out = {"model": args.model, "openvino": ov.__version__.split("-")[0], "nncf": nncf.__version__,
           "quantize_s": quantize_s}
    for name, m in (("fp32", ov_fp32), ("int8", ov_int8)):
        if args.batch != 1:
            m.reshape([args.batch, 3, 224, 224])
        compiled = core.compile_model(m, "CPU", cfg)
        req = compiled.create_infer_request()
        xin = x.numpy()
        for _ in range(5):
            req.infer([xin])
        y = next(iter(req.infer([xin]).values())).ravel()
        samples = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            for _ in range(5):
                req.infer([xin])
            samples.append((time.perf_counter() - t) / 5)
        out[f"{name}_ms"] = statistics.median(samples) * 1e3
        out[f"{name}_cos"] = float((y @ ref) / ((y @ y) ** 0.5 * (ref @ ref) ** 0.5))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
