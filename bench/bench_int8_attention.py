"""Int8MultiheadAttention vs nn.MultiheadAttention (fp32, torch's fused fast path where it applies),
an nn.TransformerEncoderLayer under torch.ao dynamic int8 and nnslim int8_dynamic, and (--vit, in the
torchvision venv) whole vision transformers. torch.ao's dynamic quantization leaves
nn.MultiheadAttention in fp32 (its out_proj is a NonDynamicallyQuantizableLinear, its in-projection a
bare parameter), so its attention block is the fp32 one.

    python bench/bench_int8_attention.py [--quick] [--vit] [--hf]   # prints markdown tables
    pytest bench/bench_int8_attention.py --benchmark-only     # pytest-benchmark view
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from nnslim.benchmarks import interleaved_medians, markdown_table  # noqa: E402

import nnslim  # noqa: E402
from nnslim.nn import Int8MultiheadAttention  # noqa: E402

# (name, embed_dim, heads, tokens): ViT-B/32 and ViT-B/16 at 224x224 (class token included), BERT-base
# at 128 tokens.
SHAPES = [("ViT-B/32", 768, 12, 50), ("ViT-B/16", 768, 12, 197), ("BERT-base", 768, 12, 128)]


def _ao_dynamic(model: nn.Module) -> nn.Module:
    import torch.ao.quantization as tq

    torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tq.quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)


def _cos(a, b) -> float:
    return float(F.cosine_similarity(a.flatten().double(), b.flatten().double(), 0))


def attention_contenders(e: int, h: int, tokens: int, batch: int = 1):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(e, h, batch_first=True).eval()
    q8 = Int8MultiheadAttention.from_float(mha)
    q7 = Int8MultiheadAttention.from_float(mha, nnslim.Int8DynamicConfig(activation_bits=7))
    x = torch.randn(batch, tokens, e)
    return {"fp32": lambda: mha(x, x, x, need_weights=False), "nnslim": lambda: q8(x, x, x, need_weights=False),
            "nnslim7": lambda: q7(x, x, x, need_weights=False)}, (mha, q8, q7, x)


def encoder_contenders(e: int, h: int, tokens: int, batch: int = 1):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(e, h, 4 * e, dropout=0.0, activation="gelu", batch_first=True).eval()
    x = torch.randn(batch, tokens, e)
    ao = _ao_dynamic(layer)
    q = nnslim.quantize(copy.deepcopy(layer), "int8_dynamic")
    q7 = nnslim.quantize(copy.deepcopy(layer), nnslim.Int8DynamicConfig(activation_bits=7))
    return {"fp32": lambda: layer(x), "ao": lambda: _without_fastpath(ao, x), "nnslim": lambda: q(x),
            "nnslim7": lambda: q7(x)}, (layer, ao, q, q7, x)


def _without_fastpath(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torch.ao's dynamic Linear has a ``weight()`` method, which nn.TransformerEncoderLayer's fast-path
    check reads as a tensor (AttributeError: 'function' object has no attribute 'device'): its
    encoder runs only with the fast path off."""
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        return model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)


def run_table(quick: bool = False) -> str:
    torch.set_num_threads(2)
    rows = []
    rounds = 5 if quick else 11
    with torch.inference_mode():
        for name, e, h, tokens in SHAPES[:2] if quick else SHAPES:
            fns, (mha, q8, q7, x) = attention_contenders(e, h, tokens)
            t = interleaved_medians(fns, rounds=rounds)
            ref = mha(x, x, x, need_weights=False)[0]
            cos = [_cos(m(x, x, x, need_weights=False)[0], ref) for m in (q8, q7)]
            rows.append([name, f"{tokens}x{e}, {h} heads", "nn.MultiheadAttention", f"{t['fp32'] * 1e3:.2f}", "-",
                         f"{t['nnslim'] * 1e3:.2f} / {t['nnslim7'] * 1e3:.2f}",
                         f"{t['fp32'] / t['nnslim']:.2f}x / {t['fp32'] / t['nnslim7']:.2f}x", "-",
                         f"{cos[0]:.5f} / {cos[1]:.5f}"])
            fns, (layer, ao, q, q7, x) = encoder_contenders(e, h, tokens)
            t = interleaved_medians(fns, rounds=rounds)
            ref = layer(x)
            cos = [_cos(m(x), ref) for m in (q, q7)] + [_cos(_without_fastpath(ao, x), ref)]
            rows.append([name, f"{tokens}x{e}, {h} heads", "nn.TransformerEncoderLayer", f"{t['fp32'] * 1e3:.2f}",
                         f"{t['ao'] * 1e3:.2f}", f"{t['nnslim'] * 1e3:.2f} / {t['nnslim7'] * 1e3:.2f}",
                         f"{t['fp32'] / t['nnslim']:.2f}x / {t['fp32'] / t['nnslim7']:.2f}x",
                         f"{t['ao'] / t['nnslim']:.2f}x / {t['ao'] / t['nnslim7']:.2f}x",
                         f"{cos[0]:.5f} / {cos[1]:.5f} (torch.ao {cos[2]:.5f})"])
    head = ["shape", "tokens x dim", "block", "fp32 ms", "torch.ao dynamic ms", "nnslim ms (8 / 7 bits)",
            "vs fp32 (8 / 7)", "vs torch.ao (8 / 7)", "cosine vs fp32 (8 / 7)"]
    return markdown_table(head, rows)


def vit_table(quick: bool = False, names=("vit_b_32", "vit_b_16")) -> str:
    """torchvision's ViTs (random weights, the zero-initialized head redrawn), batch 1, 224x224."""
    import torchvision

    torch.set_num_threads(2)
    rows = []
    for name in names:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)().eval()
        nn.init.normal_(model.heads.head.weight, std=0.02)
        x = torch.randn(1, 3, 224, 224)
        calib = [torch.randn(1, 3, 224, 224) for _ in range(8)]
        ao = _ao_dynamic(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            dyn = nnslim.quantize(copy.deepcopy(model), "int8_dynamic")
            dyn7 = nnslim.quantize(copy.deepcopy(model), nnslim.Int8DynamicConfig(activation_bits=7))
            static = nnslim.quantize(copy.deepcopy(model), nnslim.Int8StaticConfig(progress=False),
                                     calibration_data=calib)
            convert_s = time.perf_counter() - start
        fns = {"fp32": lambda: model(x), "ao": lambda: ao(x), "dyn": lambda: dyn(x), "dyn7": lambda: dyn7(x),
               "static": lambda: static(x)}
        with torch.inference_mode():
            t = interleaved_medians(fns, rounds=5 if quick else 9, inner=1)
            ref = model(x)
            cos = {k: _cos(f(), ref) for k, f in fns.items()}
        for k, label in (("fp32", "torch fp32"), ("ao", "torch.ao dynamic int8"), ("dyn", "nnslim int8_dynamic"),
                         ("dyn7", "nnslim int8_dynamic, activation_bits=7"), ("static", "nnslim int8_static")):
            rows.append([name, label, f"{t[k] * 1e3:.2f}", f"{t['fp32'] / t[k]:.2f}x", f"{t['ao'] / t[k]:.2f}x",
                         f"{cos[k]:.5f}"])
        rows[-1][1] += f" (the three nnslim conversions in {convert_s:.1f} s)"
    return markdown_table(["model", "variant", "ms (median)", "vs fp32", "vs torch.ao", "cosine vs fp32"], rows)


def hf_table(quick: bool = False) -> str:
    """Hugging Face BERT-base (from its config, random weights; attention made of nn.Linear layers),
    batch 1 x 128 tokens."""
    from transformers import BertConfig, BertModel

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = BertModel(BertConfig()).eval()
    ids = torch.randint(0, 30522, (1, 128))
    ao = _ao_dynamic(model)
    dyn = nnslim.quantize(copy.deepcopy(model), "int8_dynamic")
    dyn7 = nnslim.quantize(copy.deepcopy(model), nnslim.Int8DynamicConfig(activation_bits=7))
    fns = {"fp32": lambda: model(ids).last_hidden_state, "ao": lambda: ao(ids).last_hidden_state,
           "dyn": lambda: dyn(ids).last_hidden_state, "dyn7": lambda: dyn7(ids).last_hidden_state}
    with torch.inference_mode():
        t = interleaved_medians(fns, rounds=5 if quick else 9, inner=1)
        ref = fns["fp32"]()
        cos = {k: _cos(f(), ref) for k, f in fns.items()}
    rows = [["BERT-base (HF), 1x128", label, f"{t[k] * 1e3:.2f}", f"{t['fp32'] / t[k]:.2f}x", f"{t['ao'] / t[k]:.2f}x",
             f"{cos[k]:.5f}"]
            for k, label in (("fp32", "torch fp32"), ("ao", "torch.ao dynamic int8"), ("dyn", "nnslim int8_dynamic"),
                             ("dyn7", "nnslim int8_dynamic, activation_bits=7"))]
    return markdown_table(["model", "variant", "ms (median)", "vs fp32", "vs torch.ao", "cosine vs fp32"], rows)


@pytest.mark.parametrize("who", ["fp32", "nnslim", "nnslim7"])
def test_bench_int8_attention(benchmark, who):
    fns, _ = attention_contenders(768, 12, 50)
    with torch.inference_mode():
        benchmark(fns[who])


@pytest.mark.parametrize("who", ["fp32", "ao", "nnslim", "nnslim7"])
def test_bench_encoder_layer(benchmark, who):
    fns, _ = encoder_contenders(768, 12, 50)
    with torch.inference_mode():
        benchmark(fns[who])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--vit", action="store_true", help="also torchvision's ViT-B/32 and ViT-B/16 (needs torchvision)")
    ap.add_argument("--hf", action="store_true", help="also Hugging Face BERT-base (needs transformers)")
    args = ap.parse_args()
    info = nnslim.cpu_info()
    print(f"# Int8MultiheadAttention, {info['cpu']} {info['selected']}, 2 threads, batch 1\n")
    print(run_table(args.quick))
    if args.vit:
        print()
        print(vit_table(args.quick))
    if args.hf:
        print()
        print(hf_table(args.quick))
