"""conv_chain_int8_call: a run of int8 convolutions in one kernel call.

Between two Int8Conv2d nodes of a converted graph the plan step, the module's ``_int8_call`` and
the binding's argument handling cost a few microseconds of Python each, more after a conv has left
the caches cold; a MobileNetV2 has ~50 such nodes per image. The lowered plan
(nnslim.graph.lowered) hands each run of them (every output read only inside the run, a residual
from the run's input or an earlier conv: an inverted residual block) to this function, which passes
the modules' bound kernel plans to qs8_conv_chain: the same calls from C++, the same result bit for
bit."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from nnslim import _native
from nnslim.nn.int8_conv2d import Int8Conv2d


def conv_chain_int8_call(mods: Sequence[torch.nn.Module], residual_from: Sequence[int], x):
    """x (an int8 NHWC numpy array) through mods in turn, conv i adding the residual residual_from[i]
    names (-2 none, -1 x, j conv j's output) -> the last int8 NHWC output array; NotImplemented where
    a module is not such a conv (another type, float edges, a residual that does not match, weights not
    yet packed): the caller then runs them one by one."""
    if x.__class__ is not np.ndarray:
        return NotImplemented
    C = _native.C
    plan_types = (C.Qs8Conv2dPlan, C.Qs8DwConv2dPlan, C.Qs8GconvConv2dPlan)
    plans = []
    for m, r in zip(mods, residual_from):
        if type(m) is not Int8Conv2d or m._packed is None or not m.int8_output or m.residual != (r != -2) or \
                (m.residual and not m.int8_residual):
            return NotImplemented
        plan = m.__dict__.get("_packed_run")
        if plan.__class__ not in plan_types:
            return NotImplemented
        plans.append(plan)
    return C.qs8_conv_chain(x, plans, list(residual_from), torch.get_num_threads())
