"""squeeze_excite_int8_call: a squeeze-excite block's four int8 modules in one kernel call.

In a converted MobileNetV3 a block's gate is four graph nodes: the global pool of the int8 x
(AdaptiveAvgPool2d), fc1 and fc2 (Int8Conv2d over the 1 x 1 means, fc2 ending in the gate's
Hardsigmoid) and the multiply (Int8ChannelMul). Each is a few microseconds of kernel and ~20 of Python
after a conv has left the caches cold, so the lowered plan (nnslim.graph.lowered) hands the four to
this function instead, which runs the same four bindings from C++ (qs8_squeeze_excite_nhwc): the
same result, bit for bit, in one step."""
from __future__ import annotations

import numpy as np

from nnslim import _native
from nnslim.nn.avg_pool2d import AdaptiveAvgPool2d
from nnslim.nn.int8_channel_mul import Int8ChannelMul
from nnslim.nn.int8_conv2d import Int8Conv2d


def squeeze_excite_int8_call(pool, fc1, fc2, mul, x):
    """x (an int8 NHWC numpy array) -> mul(x, fc2(fc1(pool(x)))) as an int8 NHWC array, or
    NotImplemented where the modules are not that block (other types, float edges, shapes that do not
    chain, weights not yet packed): the caller then runs the four modules one by one."""
    if x.__class__ is not np.ndarray or x.ndim != 4 or type(pool) is not AdaptiveAvgPool2d or \
            type(fc1) is not Int8Conv2d or type(fc2) is not Int8Conv2d or type(mul) is not Int8ChannelMul:
        return NotImplemented
    C = _native.C
    plan1, plan2 = fc1.__dict__.get("_packed_run"), fc2.__dict__.get("_packed_run")
    if not (pool.int8_input and mul.int8_input and mul.int8_output) or fc1._packed is None or fc2._packed is None or \
            plan1.__class__ is not C.Qs8Conv2dPlan or plan2.__class__ is not C.Qs8Conv2dPlan or \
            fc1.residual or fc2.residual or fc2.int8_output or fc1.in_channels != x.shape[3] or \
            fc2.in_channels != fc1.out_channels or fc2.out_channels != x.shape[3]:
        return NotImplemented
    pool_scale, pool_zp = pool.edge_scalars("input")
    x_scale, x_zp = mul.edge_scalars("input")
    out_scale, out_zp = mul.edge_scalars("output")
    return C.qs8_squeeze_excite_nhwc(x, pool_scale, pool_zp, plan1, plan2, x_scale, x_zp, out_scale, out_zp,
                                     _native.num_threads())
