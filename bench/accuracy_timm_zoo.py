"""timm's image models through nnslim.quantize (Int8StaticConfig): the "it fails on my model" check of
accuracy_torchvision_zoo.py on the architectures torchvision lacks (deep stems and average-pool
shortcuts, same-padding convs, mixed kernels, re-parameterizable blocks, split attention, efficient
ViT hybrids, MetaFormers...). One markdown row per model: output cosine vs fp32, whether
nnslim.save / nnslim.load rebuild it bit for bit, conversion seconds, int8 nodes, nnslim's warnings;
a model that raises prints its error and the sweep goes on. No timing of inference.

    python bench/accuracy_timm_zoo.py [--models resnet18d,efficientnet_b0] [--bits 8|7] [--torch-ao]

--torch-ao adds torch.ao FX's (x86 static int8, the same calibration images) output cosine: where
random weights make a model's activations hard to quantize, the peer's cosine drops too.

Needs timm beside a torchvision that loads (the benchmark venv of the README, then
`pip install timm`). Random weights (timm's own initialization; weights it zeroes, such as the last
BatchNorm of a residual branch, are drawn at random as in the torchvision sweep), BatchNorm
statistics randomized, the model's own input size, 4 calibration images, one test image.
"""
from __future__ import annotations

import argparse

import torch

import nnslim
from accuracy_torchvision_zoo import check_model, cpu_name
from nnslim import models

# Small variants of distinct families (each converts in seconds to a minute on 2 cores).
MODELS = [
    "resnet18d", "resnet26t", "seresnext26d_32x4d", "ecaresnet26t", "gcresnext26ts", "resnest14d",
    "res2net50_14w_8s", "regnetx_002", "regnety_002", "regnetz_b16", "dla34", "hrnet_w18_small",
    "cspresnet50", "cs3darknet_s", "ese_vovnet19b_dw", "selecsls42b", "gernet_s", "repvgg_a0",
    "mobileone_s0", "efficientnet_b0", "tf_efficientnet_b0", "efficientnetv2_rw_t", "mixnet_s",
    "mobilenetv3_large_100", "mobilenetv4_conv_small", "lcnet_050", "ghostnet_100", "repghostnet_050",
    "rexnet_100", "tinynet_e", "fbnetc_100", "mnasnet_small", "hardcorenas_a", "convnext_atto",
    "convnextv2_atto", "edgenext_xx_small", "poolformer_s12", "fastvit_t8", "efficientformer_l1",
    "efficientvit_b0", "efficientvit_m0", "levit_128s", "mobilevit_xxs", "mobilevitv2_050",
    "tiny_vit_5m_224", "coat_lite_tiny", "deit_tiny_patch16_224", "vit_tiny_patch16_224",
    "botnet26t_256", "halonet26t", "nf_resnet26", "starnet_s1", "inception_v3", "densenet121",
]


def build(timm, name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    m = timm.create_model(name, pretrained=False)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for mod in m.modules():
            w = getattr(mod, "weight", None)
            if isinstance(w, torch.Tensor) and w.dim() >= 1 and w.numel() > 1 and not w.any():
                w.copy_(torch.randn(w.shape, generator=g) * 0.02)
    return models.randomize_batchnorm(m).eval()


def main() -> None:
    import timm

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="comma-separated timm names (default: MODELS)")
    ap.add_argument("--bits", type=int, default=8, choices=(7, 8), help="activation_bits")
    ap.add_argument("--torch-ao", action="store_true", help="add torch.ao FX's cosine")
    args = ap.parse_args()
    peer = None
    if args.torch_ao:
        from bench_graph_int8 import torch_ao_fx as peer
    names = args.models.split(",") if args.models else MODELS
    torch.set_num_threads(min(2, torch.get_num_threads()))
    print(f"CPU: {cpu_name()}, kernel path {nnslim._native.C.selected_isa()}, torch {torch.__version__}, "
          f"timm {timm.__version__}, activation_bits={args.bits}\n")
    ao = " torch.ao FX cosine |" if peer else ""
    print(f"| model | cosine vs fp32 |{ao} reload bit-equal | convert s | int8 nodes | nnslim warnings |")
    print("|---|---|" + ("---|" if peer else "") + "---|---|---|---|")
    for name in names:
        try:
            cfg = timm.models.get_pretrained_cfg(name)
            size = (cfg.input_size if cfg is not None else (3, 224, 224))[-1]
            print(check_model(lambda: build(timm, name), name, args.bits, size, peer), flush=True)
        except Exception as e:  # the sweep reports and goes on
            print(f"| {name} | FAILED: {type(e).__name__}: {str(e)[:200]} | | | | |", flush=True)


if __name__ == "__main__":
    main()
