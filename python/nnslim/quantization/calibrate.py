"""Calibration: run batches through the model while observers watch each target layer's input."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Callable, Dict, Iterable, Optional

import torch
import torch.nn as nn

from nnslim.quantization.observers import Observer


def batch_input(batch, keywords_too: bool = False):
    """A batch is a tensor, or a tuple / list whose first element is the input (``keywords_too``: the
    caller also takes mappings, and the error says so)."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    forms = "a tensor, an (input, ...) tuple/list or a mapping of keyword inputs" if keywords_too else \
        "a tensor or an (input, ...) tuple/list"
    raise TypeError(f"calibration_data: each batch must be {forms}, got {type(batch).__name__}")


def is_keyword_batch(batch) -> bool:
    """A mapping of the model's keyword inputs (a tokenizer's output, a dict dataset's item)."""
    return isinstance(batch, Mapping)


def batch_shape(batch) -> str:
    """How an error message names a batch: its input's shape, or each keyword input's."""
    if is_keyword_batch(batch):
        if not batch or not all(isinstance(k, str) for k in batch):
            raise TypeError("calibration_data: a mapping batch must map input names (str) to values, got "
                            f"keys {list(batch)[:4]}")
        return "{" + ", ".join(f"{k}: {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}"
                               for k, v in batch.items()) + "}"
    return f"of shape {tuple(batch_input(batch, keywords_too=True).shape)}"


def run_batch(model: nn.Module, batch):
    """model on one calibration batch: model(**batch) for a mapping (Hugging Face style keyword
    inputs), else model(batch_input(batch))."""
    if is_keyword_batch(batch):
        batch_shape(batch)  # the keys' check
        return model(**batch)
    return model(batch_input(batch))


@torch.no_grad()
def calibrate(model: nn.Module, targets: Dict[str, nn.Module], data: Optional[Iterable],
              make_observer: Callable[[], Observer], num_batches: Optional[int] = None,
              progress: bool = True) -> Dict[str, Observer]:
    """Returns an observer per target fqn, fed with that module's inputs over the data."""
    if data is None:
        raise ValueError("calibration_data: static quantization needs calibration batches, got None")
    if isinstance(data, torch.Tensor) or is_keyword_batch(data):  # one batch
        data = [data]
    observers = {fqn: make_observer() for fqn in targets}
    handles = [m.register_forward_pre_hook(lambda mod, args, fqn=fqn: observers[fqn].update(args[0]))
               for fqn, m in targets.items()]
    was_training = model.training
    model.eval()
    seen = 0
    try:
        from tqdm.auto import tqdm

        it = tqdm(data, desc="calibrating", total=num_batches, disable=not progress, leave=False)
        for i, batch in enumerate(it):
            if num_batches is not None and i >= num_batches:
                break
            described = batch_shape(batch)  # TypeError for a batch of no known form
            try:
                run_batch(model, batch)
            except (RuntimeError, ValueError, TypeError) as exc:  # TypeError: keywords the model lacks
                raise ValueError(f"calibration_data: batch {i} {described} could not run through "
                                 f"the model: {exc}") from exc
            seen += 1
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if seen == 0:
        raise ValueError("calibration_data: no batches (the iterable is empty)")
    return observers
