"""Quantize a transformer encoder (MiniLM-sized: 6 layers, hidden 384, seq 128) with int8 dynamic
quantization and measure accuracy (output cosine) and speed against fp32 and torch.ao.

    python examples/quantize_transformer.py
"""
import copy
import warnings

import torch
import torch.nn.functional as F

import nnslim
from nnslim.benchmarks import interleaved_medians
from nnslim.models import TransformerEncoder

torch.manual_seed(0)
torch.set_num_threads(2)
model = TransformerEncoder().eval()
ids = torch.randint(0, 30522, (1, 128))

ours = nnslim.quantize(copy.deepcopy(model), "int8_dynamic")
# 7-bit rows (asymmetric, per row): the fast form on AVX2 CPUs without VNNI, same speed elsewhere.
ours7 = nnslim.quantize(copy.deepcopy(model), nnslim.Int8DynamicConfig(activation_bits=7))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ao = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)

with torch.inference_mode():
    ref = model(ids)
    for name, m in (("nnslim int8_dynamic", ours), ("nnslim 7-bit", ours7), ("torch.ao dynamic", ao)):
        cos = F.cosine_similarity(ref.flatten(), m(ids).flatten(), dim=0).item()
        print(f"{name:20s} output cosine vs fp32: {cos:.5f}")
    t = interleaved_medians({"fp32": lambda: model(ids), "nnslim": lambda: ours(ids), "nnslim 7b": lambda: ours7(ids),
                             "torch.ao": lambda: ao(ids)}, rounds=9)
for k, v in t.items():
    print(f"{k:10s} {v * 1e3:7.2f} ms   speedup vs fp32 {t['fp32'] / v:.2f}x")
