"""The one place that understands a model as a graph: torch.fx capture with leaf modules where tracing
must stop, shape propagation, node patterns, and the rewrite passes that quantization (and structured
pruning) stand on. A pass is a function GraphModule -> GraphModule with one pattern and one test."""
from nnslim.graph.capture import GraphCaptureError, capture, propagate_shapes
from nnslim.graph.fused import ChannelMul, FusedConv2d, FusedLinear
from nnslim.graph.passes import (channel_mul_module, drop_no_ops, fold_batchnorm, fuse_conv_activation, fuse_conv_add,
                                  fuse_linear_relu, global_pool_module, mean_pool_module)

__all__ = ["GraphCaptureError", "capture", "propagate_shapes", "ChannelMul", "FusedConv2d", "FusedLinear",
           "channel_mul_module", "drop_no_ops", "fold_batchnorm", "fuse_conv_activation", "fuse_conv_add", "fuse_linear_relu",
           "global_pool_module", "mean_pool_module"]
