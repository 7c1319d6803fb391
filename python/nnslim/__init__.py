"""nnslim: make PyTorch models smaller and faster, and prove it with measurements."""
from __future__ import annotations

__version__ = "0.1.0"

from nnslim.hw import cpu_info
from nnslim.distillation import DistillConfig, distill, inherit_weights
from nnslim.io import load, save
from nnslim.pruning import Pruner, PruneConfig, prune, remove_masks, sparsity_report
from nnslim.quantization import (Int4WeightConfig, Int8DynamicConfig, Int8StaticConfig, Log2WeightConfig, QATConfig,
                                 QuantConfig, convert, prepare_qat, quantize)

from nnslim.pipeline import DistillStage, PruneStage, QATStage, QuantizeStage, SparsifyStage, compress
from nnslim.report import CompressionReport
from nnslim.sparsify import sparsify
from nnslim.quantization.graph_static import report_text as graph_report

__all__ = ["compress", "sparsify", "CompressionReport", "DistillStage", "PruneStage", "QuantizeStage", "QATStage", "SparsifyStage",
           "distill", "DistillConfig", "inherit_weights", "cpu_info", "save", "load", "prune", "PruneConfig", "Pruner", "remove_masks", "sparsity_report", "quantize", "QuantConfig", "QATConfig", "prepare_qat", "convert", "Int8DynamicConfig", "Int8StaticConfig", "Int4WeightConfig", "Log2WeightConfig", "graph_report", "__version__"]
