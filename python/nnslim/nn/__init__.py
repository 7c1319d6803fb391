"""Drop-in modules that run on nnslim's kernels."""
from nnslim.nn.avg_pool2d import AdaptiveAvgPool2d, AvgPool2d
from nnslim.nn.int4_linear import Int4Linear
from nnslim.nn.int8_channel_mul import Int8ChannelMul
from nnslim.nn.int8_conv2d import Int8Conv2d
from nnslim.nn.int8_embedding import Int8Embedding
from nnslim.nn.int8_linear import Int8Linear
from nnslim.nn.int8_multihead_attention import Int8MultiheadAttention
from nnslim.nn.log2_linear import Log2Linear
from nnslim.nn.max_pool2d import MaxPool2d
from nnslim.nn.sparse_conv2d import SparseConv2d
from nnslim.nn.sparse_int8_linear import SparseInt8Linear
from nnslim.nn.sparse_linear import SparseLinear

__all__ = ["Int8Linear", "Int8Conv2d", "Int4Linear", "Log2Linear", "SparseLinear", "SparseConv2d", "Int8Embedding",
           "SparseInt8Linear", "MaxPool2d", "AdaptiveAvgPool2d", "AvgPool2d",
           "Int8ChannelMul", "Int8MultiheadAttention"]
