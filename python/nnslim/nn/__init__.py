"""Drop-in modules that run on nnslim's kernels."""
from nnslim.nn.int8_conv2d import Int8Conv2d
from nnslim.nn.int8_linear import Int8Linear

__all__ = ["Int8Linear", "Int8Conv2d"]
