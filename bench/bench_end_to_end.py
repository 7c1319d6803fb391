"""End-to-end models written in the repo: a MiniLM-sized transformer encoder (int8_dynamic vs fp32 and
torch.ao dynamic), a ResNet-18-style CNN at batch 1 (int8_static; 90% pruned + sparsify) and
torchvision's ResNet-18 layout (nnslim.models.resnet18: 90% pruned + sparsify(fold_batchnorm=True)).

    python bench/bench_end_to_end.py [--quick]
"""
from __future__ import annotations

import argparse
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F

import nnslim
from nnslim.benchmarks import interleaved_medians, markdown_table
from nnslim.models import ResNetSmall, TransformerEncoder
from nnslim.quantization.fuse import fold_batchnorm


def _cos(a, b):
    return F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0).item()


def transformer_rows(rounds: int):
    torch.manual_seed(0)
    model = TransformerEncoder().eval()
    ids = torch.randint(0, 30522, (1, 128))
    ours = nnslim.quantize(copy.deepcopy(model), "int8_dynamic")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ao = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
    with torch.inference_mode():
        ref = model(ids)
        cos = {"nnslim int8_dynamic": _cos(ref, ours(ids)), "torch.ao dynamic (x86)": _cos(ref, ao(ids))}
        t = interleaved_medians({"fp32": lambda: model(ids), "nnslim int8_dynamic": lambda: ours(ids),
                                 "torch.ao dynamic (x86)": lambda: ao(ids)}, rounds=rounds)
    return [["transformer 6x384, seq 128", k, f"{v * 1e3:.2f}", f"{t['fp32'] / v:.2f}x",
             "1" if k == "fp32" else f"{cos[k]:.5f}"] for k, v in t.items()]


def _resnet():
    torch.manual_seed(0)
    m = ResNetSmall().eval()
    for mod in m.modules():  # trained-looking BatchNorm statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_var.uniform_(0.5, 1.5)
            mod.running_mean.uniform_(-0.1, 0.1)
    return m


def resnet_rows(rounds: int):
    model = _resnet()
    x = torch.randn(1, 3, 224, 224)
    calib = [torch.randn(2, 3, 224, 224) for _ in range(2)]
    int8 = nnslim.quantize(copy.deepcopy(model), nnslim.Int8StaticConfig(progress=False), calibration_data=calib)
    pruned = copy.deepcopy(model)
    nnslim.prune(pruned, nnslim.PruneConfig(sparsity=0.9, scope="layer", skip=["stem.0", "head.2"]))
    nnslim.remove_masks(pruned)
    dense_pruned = copy.deepcopy(pruned)
    fold_batchnorm(pruned)  # inference-time folding scales each filter: its zeros stay zeros
    sparse = nnslim.sparsify(pruned, min_sparsity=0.5)
    with torch.inference_mode():
        ref, ref_p = model(x), dense_pruned(x)
        cos = {"nnslim int8_static": _cos(ref, int8(x)), "nnslim 90% pruned, BN folded, sparsify": _cos(ref_p, sparse(x))}
        t = interleaved_medians({"fp32": lambda: model(x), "nnslim int8_static": lambda: int8(x),
                                 "nnslim 90% pruned, BN folded, sparsify": lambda: sparse(x)}, rounds=rounds)
    return [["ResNet-18-style, 224x224, batch 1", k, f"{v * 1e3:.2f}", f"{t['fp32'] / v:.2f}x",
             "1" if k == "fp32" else f"{cos[k]:.5f}"] for k, v in t.items()]


def torchvision_resnet_rows(rounds: int):
    """torchvision's layout: BatchNorms sit outside Sequential blocks, so only the graph layer folds them."""
    from nnslim.models import randomize_batchnorm, resnet18

    torch.manual_seed(0)
    model = resnet18().eval()
    randomize_batchnorm(model)
    x = torch.randn(1, 3, 224, 224)
    pruned = copy.deepcopy(model)
    nnslim.prune(pruned, nnslim.PruneConfig(sparsity=0.9, scope="layer", skip=["conv1", "fc"]))
    nnslim.remove_masks(pruned)
    unfolded = nnslim.sparsify(copy.deepcopy(pruned), example_input=x)
    folded = nnslim.sparsify(pruned, example_input=x, fold_batchnorm=True)
    with torch.inference_mode():
        ref = pruned(x)
        cos = {"90% pruned, sparsify": _cos(ref, unfolded(x)),
               "90% pruned, sparsify(fold_batchnorm=True)": _cos(ref, folded(x))}
        t = interleaved_medians({"fp32": lambda: model(x), "90% pruned, sparsify": lambda: unfolded(x),
                                 "90% pruned, sparsify(fold_batchnorm=True)": lambda: folded(x)}, rounds=rounds)
    return [["ResNet-18 (torchvision layout), 224x224, batch 1", k, f"{v * 1e3:.2f}", f"{t['fp32'] / v:.2f}x",
             "1" if k == "fp32" else f"{cos[k]:.5f}"] for k, v in t.items()]


def run_table(quick: bool = False) -> str:
    torch.set_num_threads(2)
    rounds = 5 if quick else 11
    rows = transformer_rows(rounds) + resnet_rows(rounds) + torchvision_resnet_rows(rounds)
    return markdown_table(["model", "variant", "ms (median)", "speedup vs fp32",
                           "output cosine (vs fp32; pruned: vs the same pruned model dense)"], rows)


@pytest.mark.parametrize("which", ["transformer"])
def test_bench_end_to_end(benchmark, which):
    torch.manual_seed(0)
    model = nnslim.quantize(TransformerEncoder(layers=2).eval(), "int8_dynamic")
    ids = torch.randint(0, 30522, (1, 128))
    with torch.inference_mode():
        benchmark(lambda: model(ids))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"# end to end, {nnslim.cpu_info().get('cpu', '?')}, {nnslim.cpu_info()['selected']}, "
          f"{torch.get_num_threads()} threads\n")
    print(run_table(args.quick))
