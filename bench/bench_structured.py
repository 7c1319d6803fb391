"""Structured (channel / head) pruning, measured: wall-clock speed of the shrunk model against the
unpruned one (interleaved in one process, 2 threads, batch 1), a measured-latency target, pruning then
int8_static, and a coverage table (prunes, keeps output shapes, reloads identically).

    python bench/bench_structured.py [--quick] [--only speed,target,int8,coverage] [--models resnet50,bert]

CNNs: nnslim.models (torchvision layouts) at 224x224; BERT-base: BertModel(BertConfig()) at 128 tokens;
ViT-B/16: ViTModel(ViTConfig()) at 224x224; Llama: a small LlamaForCausalLM with grouped-query attention.
Random weights (BatchNorm statistics randomized): speed does not depend on trained values.
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import tempfile
import time
import warnings

import pytest
import torch

import nnslim
from nnslim import models
from nnslim.benchmarks import interleaved_medians, markdown_table
from nnslim.pruning import PruneConfig, prune
from nnslim.pruning.channel_prune import count_macs, count_params

CNNS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large"]
TRANSFORMERS = ["bert", "vit", "llama"]


class _Out(torch.nn.Module):
    """An HF model called with a dict of inputs, returning its main tensor (timing and comparison)."""

    def __init__(self, model, key):
        super().__init__()
        self.model, self.key = model, key

    def forward(self, inputs):
        return self.model(**inputs)[self.key]


def build(name: str):
    """(model, example input for prune(), callable input for timing, output key or None)."""
    torch.manual_seed(0)
    if name in CNNS:
        m = models.randomize_batchnorm(getattr(models, name)()).eval()
        x = torch.randn(1, 3, 224, 224)
        return m, x, None
    import transformers

    if name == "bert":
        m = transformers.BertModel(transformers.BertConfig()).eval()
        return m, {"input_ids": torch.randint(0, 30000, (1, 128))}, "last_hidden_state"
    if name == "vit":
        m = transformers.ViTModel(transformers.ViTConfig()).eval()
        return m, {"pixel_values": torch.randn(1, 3, 224, 224)}, "last_hidden_state"
    if name == "llama":
        cfg = transformers.LlamaConfig(vocab_size=32000, hidden_size=512, intermediate_size=1408,
                                       num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2)
        m = transformers.LlamaForCausalLM(cfg).eval()
        return m, {"input_ids": torch.randint(0, 32000, (1, 128))}, "logits"
    raise ValueError(f"--models: unknown {name!r}")


def runner(model, x, key):
    if key is None:
        return model, x
    return _Out(model, key).eval(), x


def _time(fns, rounds):
    with torch.inference_mode():
        return interleaved_medians(fns, rounds=rounds)


def speed_rows(name: str, rounds: int, config: PruneConfig):
    model, x, key = build(name)
    pruned = copy.deepcopy(model)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prune(pruned, config, example_input=x)
    prune_s = time.perf_counter() - t0
    a, xa = runner(model, x, key)
    b, _ = runner(pruned, x, key)
    t = _time({"dense": lambda: a(xa), "pruned": lambda: b(xa)}, rounds)
    macs = (count_macs(a, (xa,)), count_macs(b, (xa,)))
    params = (count_params(model), count_params(pruned))
    return [name, f"{config.sparsity:.0%} {config.scope}", f"{t['dense'] * 1e3:.1f}", f"{t['pruned'] * 1e3:.1f}",
            f"**{t['dense'] / t['pruned']:.2f}x**", f"{macs[0] / macs[1]:.2f}x", f"{params[0] / params[1]:.2f}x",
            f"{prune_s:.1f}"]


def target_rows(name: str, rounds: int, target: float = 2.0):
    model, x, key = build(name)
    pruned = copy.deepcopy(model)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prune(pruned, PruneConfig(pattern="channel", target_speedup=target, sparsity=0.9, round_to=8),
              example_input=x)
    prune_s = time.perf_counter() - t0
    a, xa = runner(model, x, key)
    b, _ = runner(pruned, x, key)
    t = _time({"dense": lambda: a(xa), "pruned": lambda: b(xa)}, rounds)  # re-measured, independently
    return [name, f"{target:.1f}x", f"**{t['dense'] / t['pruned']:.2f}x**",
            f"{count_params(model) / count_params(pruned):.2f}x", f"{prune_s:.0f}"]


def int8_rows(name: str, rounds: int, sparsity: float = 0.5):
    model, x, _ = build(name)
    g = torch.Generator().manual_seed(1)
    calib = [torch.randn(1, 3, 224, 224, generator=g) for _ in range(8)]
    pruned = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prune(pruned, PruneConfig(sparsity=sparsity, pattern="channel", round_to=8), example_input=x)
    cfg = nnslim.Int8StaticConfig(progress=False)
    q_dense = nnslim.quantize(model, cfg, calibration_data=calib)
    q_pruned = nnslim.quantize(pruned, cfg, calibration_data=calib)
    t = _time({"fp32": lambda: model(x), "int8": lambda: q_dense(x), "pruned fp32": lambda: pruned(x),
               "pruned int8": lambda: q_pruned(x)}, rounds)
    return [[name, k, f"{v * 1e3:.1f}", f"{t['fp32'] / v:.2f}x", f"{t['int8'] / v:.2f}x"] for k, v in t.items()]


def coverage_row(name: str):
    model, x, key = build(name)
    out0 = runner(model, x, key)[0](x) if key else model(x)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            changed = prune(model, PruneConfig(sparsity=0.5, pattern="channel", scope="layer"), example_input=x)
        del changed
        f = runner(model, x, key)[0]
        out = f(x)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.nnslim")
            nnslim.save(model, path)
            fresh = build(name)[0]
            loaded = nnslim.load(path, fresh)
            same = torch.equal(runner(loaded, x, key)[0](x), out)
        notes = "; ".join(str(w.message)[:80] for w in caught if "channel" in str(w.message))
        return [name, "yes", "yes" if out.shape == out0.shape else f"no {tuple(out.shape)}", "yes" if same else "NO",
                notes or "-"]
    except Exception as exc:  # noqa: BLE001 - the table reports what failed
        return [name, f"no: {type(exc).__name__}: {str(exc)[:80]}", "", "", ""]


@pytest.mark.parametrize("name", ["resnet50"])
def test_bench_structured_pruned(benchmark, name):
    torch.set_num_threads(2)
    model, x, _ = build(name)
    prune(model, PruneConfig(sparsity=0.5, pattern="channel", round_to=8), example_input=x)
    with torch.inference_mode():
        benchmark(lambda: model(x))


@pytest.mark.parametrize("name", ["resnet50"])
def test_bench_structured_dense(benchmark, name):
    torch.set_num_threads(2)
    model, x, _ = build(name)
    with torch.inference_mode():
        benchmark(lambda: model(x))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="speed,target,int8,coverage")
    ap.add_argument("--models", default=",".join(["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large",
                                                  "bert", "vit"]))
    args = ap.parse_args()
    torch.set_num_threads(2)
    rounds = 5 if args.quick else 11
    only = args.only.split(",")
    names = args.models.split(",")
    print(f"# structured pruning, {platform.processor() or platform.machine()} ({nnslim.cpu_info().get('cpu', '')}), "
          f"2 threads, batch 1, torch {torch.__version__}\n")
    if "speed" in only:
        rows = []
        for n in names:
            for scope in ("global", "layer"):
                rows.append(speed_rows(n, rounds, PruneConfig(sparsity=0.5, pattern="channel", round_to=8,
                                                              scope=scope)))
        print(markdown_table(["model", "channels removed", "dense ms", "pruned ms", "speedup (measured)",
                              "MACs cut", "params cut", "prune s"], rows) + "\n", flush=True)
    if "target" in only:
        rows = [target_rows(n, rounds) for n in names if n in ("resnet50", "bert")]
        print(markdown_table(["model", "target_speedup", "reached (re-measured)", "params cut", "prune s"], rows)
              + "\n", flush=True)
    if "int8" in only:
        rows = []
        for n in [n for n in names if n in ("resnet18", "resnet50")]:
            rows += int8_rows(n, rounds)
        print(markdown_table(["model", "variant", "ms", "vs fp32", "vs unpruned int8"], rows) + "\n", flush=True)
    if "coverage" in only:
        rows = [coverage_row(n) for n in CNNS + TRANSFORMERS]
        print(markdown_table(["model", "50% channels + heads prune", "output shape kept", "reload identical",
                              "warnings"], rows), flush=True)
