"""Reference architectures written in the repo (no downloads): small benchmark models, and
torchvision-layout ResNet-18 / ResNet-50 / ResNeXt-50 32x4d / MobileNetV2 / MobileNetV3-Large whose module names match
torchvision's, so a torchvision state_dict loads into them."""
from nnslim.models.mobilenet import mobilenet_v2, mobilenet_v3_large, MobileNetV2, MobileNetV3
from nnslim.models.resnet import resnet18, resnet50, resnext50_32x4d, ResNet
from nnslim.models.small import BasicBlock, EncoderLayer, ResNetSmall, TransformerEncoder
from nnslim.models.init import randomize_batchnorm

__all__ = ["BasicBlock", "EncoderLayer", "ResNetSmall", "TransformerEncoder", "ResNet", "resnet18", "resnet50", "resnext50_32x4d",
           "MobileNetV2", "MobileNetV3", "mobilenet_v2", "mobilenet_v3_large", "randomize_batchnorm"]
