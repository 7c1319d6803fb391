"""Pruning: unstructured, N:M and channel pruning, one-shot or on a schedule.

    from nnslim.pruning import prune, PruneConfig, Pruner, schedules, sparsity_report, remove_masks
    prune(model, PruneConfig(sparsity=0.9, skip=["@first"]))      # masks; fine-tune as usual
    print(sparsity_report(model)); remove_masks(model)            # bake zeros into the weights
"""
from nnslim.pruning import schedule as schedules
from nnslim.pruning.api import prune
from nnslim.pruning.channel import PruningGraphError
from nnslim.pruning.config import PruneConfig
from nnslim.pruning.masks import get_mask, is_pruned, make_permanent, masked_weight, remove_masks
from nnslim.pruning.nm import is_nm_sparse
from nnslim.pruning.pruner import Pruner
from nnslim.pruning.report import LayerSparsity, SparsityReport, sparsity_report
from nnslim.pruning.schedule import Iterative, OneShot, Polynomial, Schedule

__all__ = ["prune", "PruneConfig", "Pruner", "schedules", "Schedule", "OneShot", "Iterative", "Polynomial",
           "remove_masks", "make_permanent", "sparsity_report", "SparsityReport", "LayerSparsity",
           "get_mask", "is_pruned", "masked_weight", "is_nm_sparse", "PruningGraphError"]
