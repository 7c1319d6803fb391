"""Every torchvision classification model through nnslim.quantize (Int8StaticConfig): does it convert,
how close is its output to fp32, does nnslim.save / nnslim.load rebuild it bit for bit, what did it
warn, how long did conversion take. The "it fails on my model" check; no timing of inference.

    python bench/accuracy_torchvision_zoo.py [--models resnet18,vit_b_32] [--bits 8|7] [--skip-large]

Needs a venv where torchvision loads (see the README). Random weights, BatchNorm statistics
randomized (nnslim.models.randomize_batchnorm), 4 calibration images, one test image; weights that
torchvision initializes to zero (ViT's head) are drawn at random, else the fp32 output is all zeros
and the cosine means nothing. Prints one markdown row per model; a model that raises prints its
error instead and the sweep goes on.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings

import torch
import torch.nn.functional as F

import nnslim
from nnslim import models

# Over ~8 GFLOPs or ~300 MB of fp32 weights: minutes each on a 2-core machine.
LARGE = {"vit_h_14", "vit_l_16", "vit_l_32", "vit_b_16", "regnet_y_128gf", "regnet_y_32gf", "regnet_y_16gf",
         "regnet_x_32gf", "regnet_x_16gf", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "swin_v2_b",
         "swin_b", "convnext_large", "convnext_base", "wide_resnet101_2", "densenet161", "densenet201", "maxvit_t"}


def build(tvm, name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    m = tvm.get_model(name, weights=None)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for mod in m.modules():
            w = getattr(mod, "weight", None)
            if isinstance(w, torch.Tensor) and w.dim() >= 2 and not w.any():
                w.copy_(torch.randn(w.shape, generator=g) * 0.02)
    return models.randomize_batchnorm(m).eval()


def check(tvm, name: str, bits: int) -> str:
    return check_model(lambda: build(tvm, name), name, bits, 299 if name == "inception_v3" else 224)


def check_model(build_model, name: str, bits: int, size: int, peer=None) -> str:
    """One markdown row for the model build_model() returns (a fresh one per call: the reload gets its
    own float model), at size x size inputs. Shared by the timm sweep (accuracy_timm_zoo.py), whose
    ``peer(model, example, calib)`` (torch.ao FX) adds a column with the peer's cosine: a random-weight
    model's activations can be hard to quantize for anyone."""
    m = build_model()
    g = torch.Generator().manual_seed(1)
    calib = [torch.randn(1, 3, size, size, generator=g) for _ in range(4)]
    x = torch.randn(1, 3, size, size, generator=g)
    with torch.no_grad():
        ref = m(x)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = nnslim.quantize(m, nnslim.Int8StaticConfig(progress=False, activation_bits=bits), calibration_data=calib)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        y = q(x)
    cos = F.cosine_similarity(ref.flatten().double(), y.flatten().double(), dim=0).item()
    peer_col = ""
    if peer is not None:
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                out = peer(m, x, calib)(x)
            peer_col = f" {F.cosine_similarity(ref.flatten().double(), out.flatten().double(), dim=0).item():.5f} |"
        except Exception as e:  # the peer's own failure is a result too
            peer_col = f" fails ({type(e).__name__}) |"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.pt")
        nnslim.save(q, path)
        with torch.no_grad():
            same = torch.equal(nnslim.load(path, build_model())(x), y)
    is_graph = isinstance(q, torch.fx.GraphModule) and "nnslim_report" in q.meta
    # "N of M graph nodes run int8"; an untraceable root converts module by module (its warning says so)
    report = nnslim.graph_report(q).splitlines()[0] if is_graph else "module by module"
    ours = sorted({str(w.message).split("\n")[0][:80] for w in caught if "nnslim" in str(w.message)})
    return f"| {name} | {cos:.5f} |{peer_col} {same} | {seconds:.1f} | {report} | {'; '.join(ours) or '-'} |"


def cpu_name() -> str:
    """The CPU's model name, family and model (/proc/cpuinfo), else platform's guess."""
    try:
        info = dict(line.split(":", 1) for line in open("/proc/cpuinfo").read().split("\n\n")[0].splitlines()
                    if ":" in line)
        info = {k.strip(): v.strip() for k, v in info.items()}
        return f"{info['model name']} (family {info['cpu family']} model {info['model']})"
    except (OSError, KeyError):
        return platform.processor() or platform.machine()


def main() -> None:
    import torchvision.models as tvm

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="comma-separated torchvision names (default: all)")
    ap.add_argument("--bits", type=int, default=8, choices=(7, 8), help="activation_bits")
    ap.add_argument("--skip-large", action="store_true", help="skip the models listed in LARGE")
    args = ap.parse_args()
    names = args.models.split(",") if args.models else tvm.list_models(module=tvm)
    if args.skip_large:
        names = [n for n in names if n not in LARGE]
    torch.set_num_threads(min(2, torch.get_num_threads()))
    print(f"CPU: {cpu_name()}, kernel path {nnslim._native.C.selected_isa()}, "
          f"torch {torch.__version__}, activation_bits={args.bits}\n")
    print("| model | cosine vs fp32 | reload bit-equal | convert s | int8 nodes | nnslim warnings |")
    print("|---|---|---|---|---|---|")
    for name in names:
        try:
            print(check(tvm, name, args.bits), flush=True)
        except Exception as e:  # the sweep reports and goes on
            print(f"| {name} | FAILED: {type(e).__name__}: {str(e)[:200]} | | | | |", flush=True)


if __name__ == "__main__":
    main()
