"""Graph rewrite passes, one file each, named after what they rewrite."""
from nnslim.graph.passes.channel_mul_module import channel_mul_module
from nnslim.graph.passes.drop_no_ops import drop_no_ops
from nnslim.graph.passes.fold_batchnorm import fold_batchnorm
from nnslim.graph.passes.fuse_conv_activation import fuse_conv_activation
from nnslim.graph.passes.fuse_conv_add import fuse_conv_add
from nnslim.graph.passes.fuse_linear_relu import fuse_linear_relu
from nnslim.graph.passes.global_pool_module import global_pool_module
from nnslim.graph.passes.mean_pool_module import mean_pool_module

__all__ = ["channel_mul_module", "drop_no_ops", "fold_batchnorm", "fuse_conv_activation", "fuse_conv_add", "fuse_linear_relu",
           "global_pool_module", "mean_pool_module"]
