"""FitNets-style feature hints: forward hooks on paired layers plus learned width projections."""
from __future__ import annotations

import difflib
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn as nn

from nnslim.distillation.losses import FEATURE_LOSSES

_CONV_LIKE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class WidthUnknownError(ValueError):
    """A hinted layer's output width cannot be read from its type; an example input is needed."""


class ChannelProjection(nn.Module):
    """A learned linear map over the channel dim: a 1x1 convolution for (N, C, H, W) features,
    a plain linear layer for (N, C) or channels-last features (FitNets' regressor)."""

    def __init__(self, in_channels: int, out_channels: int, channel_dim: int = 1):
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels, bias=False)
        self.channel_dim = channel_dim

    def extra_repr(self) -> str:
        return f"channel_dim={self.channel_dim}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = self.channel_dim % x.dim()
        if dim == x.dim() - 1:
            return self.linear(x)
        return self.linear(x.movedim(dim, -1)).movedim(-1, dim)


def _first_tensor(out: Any) -> torch.Tensor:
    # Blocks that return (features, extras) are common (e.g. attention modules).
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"a hinted layer must output a tensor (or a tuple starting with one), "
                    f"got {type(out).__name__}")


def _static_width(module: nn.Module) -> Optional[Tuple[int, int]]:
    """(width, channel_dim) read from the layer (or the last weight layer in a block), if knowable."""
    for m in reversed(list(module.modules())):
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return m.out_channels, 1
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            return m.num_features, 1
        if isinstance(m, nn.Linear):
            return m.out_features, -1
    return None


def _lookup(model: nn.Module, name: str, role: str) -> nn.Module:
    modules = dict(model.named_modules())
    if name in modules and name != "":
        return modules[name]
    valid = [n for n in modules if n]
    close = difflib.get_close_matches(name, valid, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(valid[:12]) + (", ..." if len(valid) > 12 else "")
    raise ValueError(f"unknown {role} layer name {name!r}.{hint} Valid names include: {shown}")


def _normalise_pairs(pairs: Union[Mapping[str, str], Iterable[Tuple[str, str]]]) -> List[Tuple[str, str]]:
    items = list(pairs.items() if isinstance(pairs, Mapping) else pairs)
    if not items:
        raise ValueError("pairs is empty: give at least one {teacher_layer: student_layer} pair")
    return [(str(t), str(s)) for t, s in items]


class FeatureHints(nn.Module):
    """Hint losses between intermediate layers of a teacher and a student.

    ``pairs`` maps teacher layer names to student layer names (``model.named_modules()`` names).
    Forward hooks capture each paired layer's output; after ``teacher(x)`` and ``student(x)`` have
    run, ``hints.loss()`` (or ``hints()``) returns the mean loss over pairs:

    * ``"mse"``: FitNets; the student feature goes through a learned :class:`ChannelProjection`
      when widths differ, so train ``hints.parameters()`` together with the student;
    * ``"cosine"``: same projection, ``1 - cosine similarity`` (insensitive to feature scale);
    * ``"attention"``: attention transfer (Zagoruyko & Komodakis); needs no projection.

    Widths are read from the layers (Conv/BatchNorm/Linear, or the last one inside a block); for
    other layers pass ``example_input`` so one probing forward pass (eval mode, no grad) measures
    them. Feature maps with different spatial sizes are average-pooled to the smaller one. Call
    :meth:`remove` (or use the object as a context manager) to detach the hooks.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module,
                 pairs: Union[Mapping[str, str], Iterable[Tuple[str, str]]],
                 loss: str = "mse", example_input: Optional[torch.Tensor] = None):
        super().__init__()
        if not isinstance(loss, str) or loss.lower() not in FEATURE_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(FEATURE_LOSSES)}; got {loss!r}")
        self.loss_name = loss.lower()
        self.pairs = _normalise_pairs(pairs)
        # A tuple keeps both models out of this module's parameters()/state_dict().
        self._models = (teacher, student)
        t_layers = {t: _lookup(teacher, t, "teacher") for t, _ in self.pairs}
        s_layers = {s: _lookup(student, s, "student") for _, s in self.pairs}
        self._teacher_feats: Dict[str, torch.Tensor] = {}
        self._student_feats: Dict[str, torch.Tensor] = {}
        self._handles = [layer.register_forward_hook(self._saver(self._teacher_feats, name, True))
                         for name, layer in t_layers.items()]
        self._handles += [layer.register_forward_hook(self._saver(self._student_feats, name, False))
                          for name, layer in s_layers.items()]
        self.projections = nn.ModuleList()
        try:
            if self.loss_name != "attention":
                self._build_projections(t_layers, s_layers, example_input)
        except BaseException:
            self.remove()
            raise
        device = next((p.device for p in student.parameters()), None)
        if device is not None:
            self.projections.to(device)

    @staticmethod
    def _saver(store: Dict[str, torch.Tensor], name: str, detach: bool):
        def hook(module, inputs, output):
            # Clone: a following inplace ReLU would otherwise rewrite the captured feature.
            feat = _first_tensor(output)
            store[name] = feat.detach().clone() if detach else feat.clone()
        return hook

    def _build_projections(self, t_layers, s_layers, example_input) -> None:
        shapes = self._probe(example_input) if example_input is not None else None
        for t_name, s_name in self.pairs:
            t_static, s_static = _static_width(t_layers[t_name]), _static_width(s_layers[s_name])
            s_dim = s_static[1] if s_static else None
            if shapes is not None:
                t_shape, s_shape = shapes
                if s_dim is None:
                    s_dim = 1 if len(s_shape[s_name]) == 4 else -1
                t_dim = t_static[1] if t_static else s_dim
                t_w, s_w = t_shape[t_name][t_dim], s_shape[s_name][s_dim]
            elif t_static and s_static:
                (t_w, _), (s_w, _) = t_static, s_static
            else:
                role, name, layer = (("teacher", t_name, t_layers[t_name]) if t_static is None
                                     else ("student", s_name, s_layers[s_name]))
                raise WidthUnknownError(f"cannot read the output width of {role} layer {name!r} "
                                 f"({type(layer).__name__}); pass example_input=<one input batch> "
                                 "so FeatureHints can measure it")
            self.projections.append(nn.Identity() if t_w == s_w else ChannelProjection(s_w, t_w, s_dim))

    @torch.no_grad()
    def _probe(self, example_input):
        teacher, student = self._models
        modes = (teacher.training, student.training)
        teacher.eval(), student.eval()
        try:
            for model in (teacher, student):
                model(example_input.to(next((p.device for p in model.parameters()), example_input.device)))
            return ({k: tuple(v.shape) for k, v in self._teacher_feats.items()},
                    {k: tuple(v.shape) for k, v in self._student_feats.items()})
        finally:
            teacher.train(modes[0]), student.train(modes[1])
            self.clear()

    def loss(self) -> torch.Tensor:
        """Mean hint loss over pairs, from the features of the latest teacher and student passes."""
        total = None
        for i, (t_name, s_name) in enumerate(self.pairs):
            if t_name not in self._teacher_feats or s_name not in self._student_feats:
                missing = t_name if t_name not in self._teacher_feats else s_name
                raise RuntimeError(f"no features captured for layer {missing!r}: run teacher(x) and "
                                   "student(x) before computing the hint loss")
            t_feat, s_feat = self._teacher_feats[t_name], self._student_feats[s_name]
            s_feat = self.projections[i](s_feat) if len(self.projections) else s_feat
            if s_feat.shape[0] != t_feat.shape[0]:
                raise ValueError(f"hint pair {t_name!r}->{s_name!r}: teacher batch {t_feat.shape[0]} != "
                                 f"student batch {s_feat.shape[0]} (were both run on the same input?)")
            try:
                term = FEATURE_LOSSES[self.loss_name](s_feat, t_feat.to(s_feat.device))
            except ValueError as exc:
                raise ValueError(f"hint pair {t_name!r} -> {s_name!r}: {exc}") from None
            total = term if total is None else total + term
        return total / len(self.pairs)

    forward = loss

    def clear(self) -> None:
        """Drop captured features (they hold activations and, for the student, autograd graphs)."""
        self._teacher_feats.clear()
        self._student_feats.clear()

    def remove(self) -> None:
        """Detach all hooks; the object can no longer compute losses afterwards."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.clear()

    def __enter__(self) -> "FeatureHints":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
