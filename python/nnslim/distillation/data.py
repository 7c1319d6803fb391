"""Turning ``train_data`` / ``val_data`` into batches, sharded across ranks when DDP is running."""
from __future__ import annotations

import warnings
from typing import Any, Iterable, Optional, Tuple

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, RandomSampler


def world() -> Tuple[int, int]:
    """(rank, world_size); (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def known_len(obj: Any) -> Optional[int]:
    try:
        return len(obj)
    except TypeError:
        return None


def _per_rank_batch(global_batch: int, world_size: int, what: str) -> int:
    if global_batch % world_size:
        raise ValueError(f"{what} {global_batch} is not divisible by the world size {world_size}; "
                         "distill splits the global batch evenly across ranks")
    return global_batch // world_size


def train_batches(data: Any, batch_size: int, shuffle: bool, seed: int
                  ) -> Tuple[Iterable, Optional[DistributedSampler]]:
    """An iterable of batches for one rank and, when distill owns the sampler, that sampler
    (``set_epoch`` must be called on it every epoch).

    A Dataset always goes through a DistributedSampler, with ``num_replicas=1`` outside DDP: its
    shuffle order is then the union of the per-rank orders under DDP, so a single-process run and
    an N-rank run see the same global batches.
    """
    if data is None:
        raise ValueError("train_data is None")
    rank, size = world()
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
        if known_len(data) == 0:
            raise ValueError("train_data is empty (a Dataset of length 0)")
        sampler = DistributedSampler(data, num_replicas=size, rank=rank, shuffle=shuffle, seed=seed)
        loader = DataLoader(data, batch_size=_per_rank_batch(batch_size, size, "batch_size"),
                            sampler=sampler)
        return loader, sampler
    if isinstance(data, DataLoader):
        if known_len(data.dataset) == 0 or known_len(data) == 0:
            raise ValueError("train_data is empty (its DataLoader yields no batches)")
        if size == 1 or isinstance(data.sampler, DistributedSampler):
            return data, data.sampler if isinstance(data.sampler, DistributedSampler) else None
        return _shard_loader(data, rank, size, seed)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise ValueError(f"train_data must be a Dataset, a DataLoader or an iterable of (x, y) "
                         f"batches; got {type(data).__name__}")
    if known_len(data) == 0:
        raise ValueError("train_data is empty")
    if size > 1:
        warnings.warn("distill under DDP got a plain iterable of batches: it cannot be sharded, so "
                      "every rank trains on all of it. Pass a Dataset or a DataLoader to shard.")
    return data, None


def _shard_loader(loader: DataLoader, rank: int, size: int, seed: int):
    if isinstance(loader.dataset, IterableDataset) or loader.batch_size is None:
        warnings.warn("distill under DDP cannot shard a DataLoader over an IterableDataset or with a "
                      "custom batch_sampler; every rank iterates it as given")
        return loader, None
    sampler = DistributedSampler(loader.dataset, num_replicas=size, rank=rank, seed=seed,
                                 shuffle=isinstance(loader.sampler, RandomSampler),
                                 drop_last=loader.drop_last)
    sharded = DataLoader(
        loader.dataset, batch_size=_per_rank_batch(loader.batch_size, size, "the DataLoader's batch_size"),
        sampler=sampler, num_workers=loader.num_workers, collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory, drop_last=loader.drop_last,
        worker_init_fn=loader.worker_init_fn, persistent_workers=loader.persistent_workers)
    return sharded, sampler


def eval_batches(data: Any) -> Iterable:
    """Validation data, unsharded: every rank scores the same full set so their verdicts agree."""
    if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
        return DataLoader(data, batch_size=256, shuffle=False)
    return data


def split_batch(batch: Any) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(x, y) from ``(x, y)``, ``[x, y, ...]``, ``(x,)``, ``x`` or ``{"x"/"input": .., "y"/"label": ..}``."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, dict):
        x = next((batch[k] for k in ("x", "input", "inputs", "image") if k in batch), None)
        y = next((batch[k] for k in ("y", "label", "labels", "target") if k in batch), None)
        if x is None:
            raise ValueError(f"cannot find the input in a batch dict with keys {sorted(batch)}")
        return x, y
    if isinstance(batch, (tuple, list)) and batch:
        return batch[0], (batch[1] if len(batch) > 1 else None)
    raise ValueError(f"cannot read a batch of type {type(batch).__name__}; expected (x, y) or x")
