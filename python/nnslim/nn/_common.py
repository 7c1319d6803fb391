"""Shared input handling for the drop-in modules: they take and return float tensors like the layers
they replace, and refuse what they cannot serve with a clear error rather than a wrong answer."""
from __future__ import annotations

import math
from typing import Tuple

import torch

_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)

# How far above the half-way point below qmin a 7-bit edge's floor (Hardswish's -0.375) must quantize
# (observers.activation_qparams, Int8Conv2d.set_output_qparams): more than fp32's rounding of
# floor * (1 / scale) can move it.
FLOOR_MARGIN = 1e-4

# Activations a conv epilogue fuses (csrc/include/nnslim/postop.h); "clamp" takes (lo, hi).
FUSED_ACTIVATIONS = ("none", "relu", "clamp", "hardswish", "hardsigmoid")


def activation_repr(activation: str, lo: float, hi: float) -> str:
    """The extra_repr fragment of a fused activation ("" for none)."""
    if activation == "none":
        return ""
    return f", activation={activation}" + (f"({lo:g}, {hi:g})" if activation == "clamp" else "")


def check_inference_input(module_name: str, x: torch.Tensor, in_features: int, dim: int = -1) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{module_name}: input must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{module_name}: input must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() == 0 or x.shape[dim] != in_features:
        raise ValueError(
            f"{module_name}: expected input with size {in_features} in dimension {dim}, got shape {tuple(x.shape)}")
    if torch.is_grad_enabled() and x.requires_grad:
        raise RuntimeError(
            f"{module_name} is inference-only (integer kernels have no gradient); call it under "
            "torch.no_grad() / torch.inference_mode(), or train with fake quantization "
            "(nnslim.prepare_qat) and convert afterwards")


def as_float32_rows(x: torch.Tensor, features: int) -> torch.Tensor:
    """(..., features) -> contiguous float32 (rows, features), sharing memory when it already is."""
    x2 = x.reshape(-1, features)
    if x2.dtype != torch.float32:
        x2 = x2.float()
    return x2.contiguous()


def per_channel_symmetric_int8(weight: torch.Tensor):
    """Per-output-row symmetric int8: scale = max|w| / 127, q = round(w / scale) in [-127, 127].

    All-zero rows get scale 1 (q = 0), so dequantisation stays finite.
    """
    w = weight.detach().float().reshape(weight.shape[0], -1)
    if not torch.isfinite(w).all():
        raise ValueError("weight contains NaN or Inf; cannot quantize it")
    amax = w.abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
    q = torch.clamp(torch.round(w / scale[:, None]), -127, 127).to(torch.int8)
    return q.reshape(weight.shape), scale.float()


class Float32BuffersMixin:
    """Keeps a drop-in's floating-point buffers (scales, biases, CSR values) in float32 through
    ``model.half()`` / ``.to(torch.bfloat16)`` / ``.double()``: the kernels read them as float32, and the
    layer already takes and returns any float dtype, so a converted model cast for its float parts
    keeps running (device moves still apply)."""

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for name, buf in self._buffers.items():
            if buf is not None and buf.is_floating_point() and buf.dtype != torch.float32:
                self._buffers[name] = buf.float()
        return self


class Int8LinearCommon(Float32BuffersMixin):
    """What the int8 linear layers (Int8Linear, SparseInt8Linear) share besides their weight storage:
    sizes, the ``weight_scale`` / ``bias`` / static ``input_scale`` / ``input_zero_point`` buffers, the
    constructor arguments save/load rebuilds them from, and the static qparams setter."""

    def _init_int8_linear(self, in_features: int, out_features: int, bias: bool, static: bool, relu: bool) -> None:
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"in_features and out_features must be positive, got {in_features}, {out_features}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.static = bool(static)
        self.relu = bool(relu)
        self.register_buffer("weight_scale", torch.ones(out_features, dtype=torch.float32))
        if bias:
            self.register_buffer("bias", torch.zeros(out_features, dtype=torch.float32))
        else:
            self.bias = None
        if self.static:
            self.register_buffer("input_scale", torch.tensor(1.0))
            self.register_buffer("input_zero_point", torch.tensor(0, dtype=torch.int32))

    def init_kwargs(self) -> dict:
        return dict(in_features=self.in_features, out_features=self.out_features, bias=self.bias is not None,
                    static=self.static, relu=self.relu)

    def set_input_qparams(self, scale: float, zero_point: int) -> None:
        set_static_input_qparams(self, scale, zero_point)

    def _run_rows(self, op, rows: torch.Tensor, lead, dtype: torch.dtype) -> torch.Tensor:
        """Runs ``op`` (a native op with linear_static / linear_dynamic, e.g. PackedQs8Weights or
        SparseInt8LinearOp) on float32 ``rows``; returns (*lead, out_features) in ``dtype``."""
        from nnslim import _native

        call = self._native_call()
        y = call(op, rows.numpy(), _native.num_threads())
        out = torch.from_numpy(y)
        if len(lead) != 1:
            out = out.reshape(*lead, self.out_features)
        return out if dtype == torch.float32 else out.to(dtype)

    def _native_call(self):
        """fn(op, rows, threads) with the scales, bias and static qparams bound. Rebuilt when a buffer is
        replaced, re-pointed or (static qparams) changed in place, or relu changes (the key: tensor
        identity, storage pointer, version counter): buffer lookups, ``.numpy()`` and ``float(tensor)``
        cost ~3 us a call, a tenth of a decode-sized call."""
        d = self.__dict__
        bufs = d["_buffers"]
        ws, b, folded = bufs["weight_scale"], bufs.get("bias"), d.get("_bias_folded")
        relu = self.relu

        def where(t):  # identity and memory: `.data = ...` / set_() keep the id but move the storage
            return (0, 0) if t is None else (id(t), t.data_ptr())

        if self.static:
            s, z = bufs["input_scale"], bufs["input_zero_point"]
            if s.is_inference() or z.is_inference():  # no version counter to watch: read them every call
                key = None
            else:
                key = where(ws) + where(b) + where(folded) + where(s) + where(z) + (s._version, z._version, relu)
        else:
            key = where(ws) + where(b) + (relu, getattr(self, "activation_bits", 8))
        cached = d.get("_native_call_cache")
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        wsn = ws.numpy()
        if self.static:
            bn = None if folded is None else folded.numpy()
            scale, zp = float(s), int(z)

            def call(op, x, threads):
                return op.linear_static(x, scale, zp, wsn, bn, relu, threads)
        else:
            bn = None if b is None else b.numpy()
            bits = (7,) if getattr(self, "activation_bits", 8) == 7 else ()  # Int8Linear(activation_bits=7)

            def call(op, x, threads):
                return op.linear_dynamic(x, wsn, bn, relu, threads, *bits)
        if key is not None:
            # the tensors ride along so their ids cannot be reused while the key holds them
            d["_native_call_cache"] = (key, call, (ws, b, folded) + ((s, z) if self.static else ()))
        return call

    def _activation_repr(self) -> str:
        if self.static:
            return f"static (scale={float(self.input_scale):.3g}, zero_point={int(self.input_zero_point)})"
        return "dynamic per-row" + (", 7-bit" if getattr(self, "activation_bits", 8) == 7 else "")


def check_qparams(what: str, scale: float, zero_point: int) -> None:
    """Static int8 qparams of an activation edge: a finite scale > 0 and an int8 zero point."""
    if not (scale > 0 and math.isfinite(scale)) or not -128 <= int(zero_point) <= 127:
        raise ValueError(f"{what} qparams: expected scale > 0 and zero_point in [-128, 127], got {scale}, {zero_point}")


class EdgeQParamsMixin(Float32BuffersMixin):
    """The int8 graph edges of a module (its input, output or residual arriving or leaving as int8
    NHWC): per edge an ``int8_<edge>`` flag and ``<edge>_scale`` / ``<edge>_zero_point`` buffers,
    registered only once the edge is int8, so modules without one keep the state_dict they had."""

    def _add_edge_buffers(self, edge: str) -> None:
        setattr(self, f"int8_{edge}", True)
        self.register_buffer(f"{edge}_scale", torch.tensor(1.0))
        self.register_buffer(f"{edge}_zero_point", torch.tensor(0, dtype=torch.int32))

    def _set_edge_qparams(self, edge: str, scale: float, zero_point: int) -> None:
        check_qparams(edge, scale, zero_point)
        if not getattr(self, f"int8_{edge}", False):
            self._add_edge_buffers(edge)
        getattr(self, f"{edge}_scale").fill_(float(scale))
        getattr(self, f"{edge}_zero_point").fill_(int(zero_point))
        self.__dict__.pop("_edge_scalars", None)

    def edge_scalars(self, edge: str) -> Tuple[float, int]:
        """(scale, zero_point) of an int8 edge as Python numbers, read from the buffers once: a tensor
        read costs ~1.4 us, and the small int8 nodes (pools, squeeze-excite multiplies) run in tens
        of microseconds. Dropped when the buffers may change (set_*_qparams, load_state_dict, .to())."""
        cache = self.__dict__.setdefault("_edge_scalars", {})
        v = cache.get(edge)
        if v is None:
            v = cache[edge] = (float(getattr(self, f"{edge}_scale")), int(getattr(self, f"{edge}_zero_point")))
        return v

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self.__dict__.pop("_edge_scalars", None)

    def _apply(self, fn, recurse=True):
        self.__dict__.pop("_edge_scalars", None)
        return super()._apply(fn, recurse)


def set_static_input_qparams(module, scale: float, zero_point: int) -> None:
    """Stores calibrated activation qparams in a static layer's ``input_scale`` / ``input_zero_point``
    buffers (Int8Linear, SparseInt8Linear) and drops its packed copy (the folded bias changes)."""
    name = type(module).__name__
    if not module.static:
        raise RuntimeError(f"set_input_qparams: this {name} quantizes activations dynamically")
    check_qparams("input", scale, zero_point)
    module.input_scale.fill_(float(scale))
    module.input_zero_point.fill_(int(zero_point))
    module._packed = None
    module.__dict__.pop("_native_call_cache", None)


class PackedWeightsMixin:
    """Lifecycle of a module's kernel-specific packed weights (``self._packed``), built lazily from
    its portable buffers: dropped whenever the buffers may have changed (load_state_dict, .to()) and
    never pickled or deep-copied (the packed object is native and ISA-specific). Also gives each
    module the handle its torch.library op refers to (nnslim.nn._torch_ops)."""

    def _init_packing(self) -> None:
        import threading

        from nnslim.nn import _torch_ops

        self._packed = None
        self._pack_lock = threading.Lock()
        self._op_handle = _torch_ops.register(self)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._packed = None  # stale: the stored weights changed
        self.__dict__.pop("_native_call_cache", None)

    def _apply(self, fn, recurse=True):
        self._packed = None
        self.__dict__.pop("_native_call_cache", None)  # buffers may move (share_memory, dtype, device)
        return super()._apply(fn, recurse)

    def __getstate__(self):
        state = super().__getstate__().copy()
        for key in [k for k in state if k.startswith("_packed")]:  # native, ISA-specific: repacked on use
            state[key] = None
        state.pop("_pack_lock", None)
        state.pop("_native_call_cache", None)  # closes over this module's arrays
        return state

    def __setstate__(self, state):
        import threading

        from nnslim.nn import _torch_ops

        super().__setstate__(state)
        self._pack_lock = threading.Lock()
        self._op_handle = _torch_ops.register(self)  # a copy must not answer to the original's handle
