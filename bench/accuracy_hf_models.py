"""Hugging Face transformers models (built from small configs: no hub access, random weights) through
nnslim.quantize with int8_dynamic and int8_static, calibrated on keyword batches as a tokenizer or
image processor returns them (model(**batch)). Per model: the output cosine vs fp32, whether
nnslim.save / nnslim.load rebuild it bit for bit, conversion seconds, nnslim's warnings. No timing
of inference.

    python bench/accuracy_hf_models.py [--models bert,t5] [--configs int8_dynamic,int8_static]

A model that raises prints its error and the sweep goes on.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import torch
import torch.nn.functional as F

import nnslim

VOCAB, SEQ, IMAGE = 3000, 32, 64


def build(name: str):
    import transformers as T

    torch.manual_seed(0)
    # 100 labels: a cosine over the default 2 logits per image would say little.
    text, labels = dict(vocab_size=VOCAB), dict(num_labels=100)
    if name == "bert":
        return T.BertForSequenceClassification(T.BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                                            intermediate_size=1024, **text, **labels))
    if name == "distilbert":
        return T.DistilBertForSequenceClassification(T.DistilBertConfig(dim=256, n_layers=3, n_heads=4,
                                                                        hidden_dim=1024, **text, **labels))
    if name == "gpt2":
        return T.GPT2LMHeadModel(T.GPT2Config(n_embd=256, n_layer=4, n_head=4, n_positions=128, bos_token_id=0, eos_token_id=0,
                                              **text))
    if name == "llama":
        return T.LlamaForCausalLM(T.LlamaConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                                num_key_value_heads=2, intermediate_size=688,
                                                max_position_embeddings=128, **text))
    if name == "t5":
        return T.T5ForConditionalGeneration(T.T5Config(d_model=256, d_ff=1024, num_layers=2, num_heads=4,
                                                       decoder_start_token_id=0, **text))
    if name == "vit":
        return T.ViTForImageClassification(T.ViTConfig(hidden_size=192, num_hidden_layers=4, num_attention_heads=3,
                                                       intermediate_size=768, image_size=IMAGE, patch_size=8, **labels))
    if name == "convnext":
        return T.ConvNextForImageClassification(T.ConvNextConfig(hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 2, 1],
                                                                 image_size=IMAGE, **labels))
    if name == "resnet":
        return T.ResNetForImageClassification(T.ResNetConfig(hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1],
                                                             embedding_size=32, **labels))
    raise ValueError(f"--models: unknown model {name!r}; expected some of {', '.join(MODELS)}")


MODELS = ("bert", "distilbert", "gpt2", "llama", "t5", "vit", "convnext", "resnet")


def batch(name: str, g: torch.Generator) -> dict:
    if name in ("vit", "convnext", "resnet"):
        return {"pixel_values": torch.randn(2, 3, IMAGE, IMAGE, generator=g)}
    ids = torch.randint(0, VOCAB, (2, SEQ), generator=g)
    out = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if name == "t5":
        out["decoder_input_ids"] = ids[:, :8]
    return out


def logits(output) -> torch.Tensor:
    return output.logits if hasattr(output, "logits") else output[0]


def check(name: str, config: str) -> str:
    m = build(name).eval()
    g = torch.Generator().manual_seed(1)
    calib = [batch(name, g) for _ in range(3)]
    x = batch(name, g)
    with torch.no_grad():
        ref = logits(m(**x))
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = nnslim.quantize(m, nnslim.Int8StaticConfig(progress=False) if config == "int8_static" else config,
                            calibration_data=calib if config == "int8_static" else None)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        y = logits(q(**x))
    cos = F.cosine_similarity(ref.flatten().double(), y.flatten().double(), dim=0).item()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.pt")
        nnslim.save(q, path)
        with torch.no_grad():
            same = torch.equal(logits(nnslim.load(path, build(name).eval())(**x)), y)
    ours = sorted({str(w.message).split(";")[0][:90] for w in caught if "nnslim" in str(w.message)})
    return f"| {name} | {config} | {cos:.5f} | {same} | {seconds:.1f} | {'; '.join(ours) or '-'} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--configs", default="int8_dynamic,int8_static")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    import transformers

    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"kernel path {nnslim._native.C.selected_isa()}\n")
    print("| model | config | cosine vs fp32 | reload bit-equal | convert s | nnslim warnings |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        for config in args.configs.split(","):
            try:
                print(check(name, config), flush=True)
            except Exception as e:  # the sweep reports and goes on
                print(f"| {name} | {config} | FAILED: {type(e).__name__}: {str(e)[:200]} | | | |", flush=True)


if __name__ == "__main__":
    main()
