"""CUDA paths of the drop-in modules, on the kernels of ``nnslim._cuda``.

``nnslim._cuda`` takes raw device pointers and torch's current stream, so this module is where
tensors are checked: CUDA placement, one device for all operands, dtype, rank and contiguity are
verified here before any pointer reaches a kernel, and a failure is a Python exception that names
the argument, never an illegal memory access.

Functions:
  quantize_rows_cuda(x, k_pad=None)           per-row dynamic int8 quantization -> (q, scales)
  qs8_gemm_cuda(a, b, out_dtype=..., ...)     int8 GEMM with the fused dequant epilogue
  spmm_csr_cuda(indptr, indices, values, x)   Y = X W^T for CSR weights W
  int8_linear_cuda(module, x)                 Int8Linear.forward on CUDA inputs
  sparse_linear_cuda(indptr, indices, values, bias, x)   SparseLinear.forward on CUDA inputs
"""
from __future__ import annotations

import threading
from typing import Iterable, Optional, Sequence

import torch
from torch.utils.weak import WeakIdKeyDictionary

from nnslim import _native

MAX_EXACT_K = 131071  # the largest K whose exact int32 accumulation cannot overflow (as on the CPU)
CHUNK_K = 65536  # longer K is split into chunks of this size, as the CPU kernels do (nnslim::kChunkK)
K_ALIGN = 16  # the tensor-core GEMM reads K in 16-byte chunks: activations and weights are padded to it

_IN_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
_OUT_CODES = {torch.int32: 0, torch.float32: 1, torch.float16: 2, torch.bfloat16: 3}


# ---- module presence and argument checks -----------------------------------------------------------

def cuda_module():
    """The compiled ``nnslim._cuda`` module, or a RuntimeError saying it was not built."""
    if not _native.has_cuda_module():
        raise RuntimeError(
            "nnslim's CUDA module (nnslim._cuda) was not built, so nnslim cannot run on CUDA tensors. "
            "Reinstall nnslim on a machine with the CUDA toolkit (nvcc on PATH, or CUDACXX set); "
            "NNSLIM_CUDA=ON makes a missing compiler a build error instead of a silent CPU-only build. "
            "Or run the module on CPU tensors.")
    return _native.CUDA


def check_tensor(t, name: str, dtypes: Sequence[torch.dtype], ndim: Optional[int] = None) -> torch.Tensor:
    """dtype, rank, contiguity and CUDA placement of one operand (no copies, no casts)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in dtypes:
        want = ", ".join(str(d).replace("torch.", "") for d in dtypes)
        raise TypeError(f"{name}: expected dtype {want}, got {str(t.dtype).replace('torch.', '')}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {tuple(t.shape)}")
    if not t.is_contiguous():
        raise ValueError(f"{name}: expected a contiguous tensor (call .contiguous() first)")
    if t.device.type != "cuda":
        raise ValueError(f"{name}: expected a CUDA tensor, got one on {t.device}; nnslim's CUDA kernels cannot "
                         "read host memory (move it with .to('cuda'))")
    return t


def check_same_device(named: Iterable) -> torch.device:
    """All (name, tensor) pairs on one device (None entries are skipped); returns that device."""
    device, first = None, None
    for name, t in named:
        if t is None:
            continue
        if device is None:
            device, first = t.device, name
        elif t.device != device:
            raise ValueError(f"{name} is on {t.device} but {first} is on {device}; "
                             "all operands must be on the same device")
    if device is None:
        raise ValueError("no tensor operands given")
    return device


def _ptr(t: Optional[torch.Tensor]) -> int:
    return 0 if t is None else t.data_ptr()


def _stream(device: torch.device) -> int:
    return torch.cuda.current_stream(device).cuda_stream


def padded_k(k: int) -> int:
    """K rounded up to the tensor-core GEMM's 16-byte granularity."""
    return (k + K_ALIGN - 1) // K_ALIGN * K_ALIGN


def pad_weight_k(w: torch.Tensor, k_pad: int) -> torch.Tensor:
    """(N, K) int8 weights -> contiguous (N, k_pad) with zero columns appended (exact: zeros add 0)."""
    n, k = w.shape
    if k_pad < k:
        raise ValueError(f"k_pad ({k_pad}) must be >= K ({k})")
    if k_pad == k:
        return w.contiguous()
    out = torch.zeros(n, k_pad, dtype=w.dtype, device=w.device)
    out[:, :k] = w
    return out


# ---- low-level ops ---------------------------------------------------------------------------------

def quantize_rows_cuda(x: torch.Tensor, k_pad: Optional[int] = None):
    """Per-row symmetric int8 quantization of x (M, K) float32/float16/bfloat16 on CUDA, with the
    semantics of the CPU reference (``nnslim._native.C.qs8_quantize_rows(..., reference=True)``).
    Returns q (M, k_pad) int8 (columns K.. zero) and scales (M,) float32."""
    mod = cuda_module()
    check_tensor(x, "x", tuple(_IN_CODES), 2)
    m, k = x.shape
    kp = k if k_pad is None else int(k_pad)
    if kp < k:
        raise ValueError(f"k_pad ({kp}) must be >= K ({k})")
    q = torch.empty(m, kp, dtype=torch.int8, device=x.device)
    scales = torch.empty(m, dtype=torch.float32, device=x.device)
    mod.qs8_quantize_rows(_ptr(x), _ptr(q), _ptr(scales), m, k, kp, k, kp, _IN_CODES[x.dtype],
                          _stream(x.device), x.device.index)
    return q, scales


def qs8_gemm_cuda(a: torch.Tensor, b: torch.Tensor, *, out_dtype: torch.dtype = torch.int32,
                  a_scale: Optional[torch.Tensor] = None, b_scale: Optional[torch.Tensor] = None,
                  bias: Optional[torch.Tensor] = None, relu: bool = False, kernel: str = "auto",
                  return_kernel: bool = False):
    """C = a (M, K) int8 @ b (N, K) int8 ^T on CUDA.

    out_dtype=torch.int32: the exact accumulator. float32 / float16 / bfloat16: the fused epilogue
    ``acc * (a_scale[m] * b_scale[n]) + bias[n]`` (then ReLU), as on the CPU. ``kernel`` forces
    "mma_128x128", "mma_32x32" or "dp4a" (tests, benchmarks); ``return_kernel`` also returns its name.
    """
    mod = cuda_module()
    check_tensor(a, "a", (torch.int8,), 2)
    check_tensor(b, "b", (torch.int8,), 2)
    if out_dtype not in _OUT_CODES:
        raise TypeError(f"out_dtype: expected int32, float32, float16 or bfloat16, got {out_dtype}")
    (m, k), (n, k2) = a.shape, b.shape
    if k != k2:
        raise ValueError(f"a is (M, K) = {tuple(a.shape)} but b is (N, K) = {tuple(b.shape)}: K differs")
    if k > MAX_EXACT_K:
        raise ValueError(f"K = {k} exceeds {MAX_EXACT_K}, the largest K whose int32 accumulation is exact; split K")
    if out_dtype == torch.int32:
        if a_scale is not None or b_scale is not None or bias is not None or relu:
            raise ValueError("scales, bias and relu need a floating-point out_dtype; int32 is the raw accumulator")
    else:
        if a_scale is None or b_scale is None:
            raise ValueError(f"out_dtype={out_dtype} needs a_scale (M,) and b_scale (N,)")
        check_tensor(a_scale, "a_scale", (torch.float32,), 1)
        check_tensor(b_scale, "b_scale", (torch.float32,), 1)
        if a_scale.shape[0] != m:
            raise ValueError(f"a_scale: expected shape ({m},), got {tuple(a_scale.shape)}")
        if b_scale.shape[0] != n:
            raise ValueError(f"b_scale: expected shape ({n},), got {tuple(b_scale.shape)}")
        if bias is not None:
            check_tensor(bias, "bias", (torch.float32,), 1)
            if bias.shape[0] != n:
                raise ValueError(f"bias: expected shape ({n},), got {tuple(bias.shape)}")
    device = check_same_device([("a", a), ("b", b), ("a_scale", a_scale), ("b_scale", b_scale), ("bias", bias)])
    c = torch.empty(m, n, dtype=out_dtype, device=device)
    used = mod.qs8_gemm(_ptr(a), _ptr(b), _ptr(c), m, n, k, k, k, n, _OUT_CODES[out_dtype], _ptr(a_scale),
                        _ptr(b_scale), _ptr(bias), bool(relu), _stream(device), device.index, kernel)
    return (c, used) if return_kernel else c


def validate_csr(indptr: torch.Tensor, indices: torch.Tensor, n_cols: int) -> None:
    """Raises ValueError unless (indptr, indices) is a well-formed CSR structure with columns < n_cols.
    One device sync; callers cache the verdict."""
    nnz = indices.numel()
    if indptr.numel() < 1:
        raise ValueError("indptr: expected N + 1 >= 1 entries")
    ip = indptr.long()
    first, last = int(ip[0]), int(ip[-1])
    if first != 0 or last != nnz:
        raise ValueError(f"indptr: expected indptr[0] == 0 and indptr[-1] == nnz ({nnz}), got {first} and {last}")
    if ip.numel() > 1 and bool((ip[1:] < ip[:-1]).any()):
        raise ValueError("indptr: must be non-decreasing")
    if nnz:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= n_cols:
            raise ValueError(f"indices: column indices must lie in [0, {n_cols}), found [{lo}, {hi}]")


def csr_row_order(indptr: torch.Tensor) -> torch.Tensor:
    """Rows by decreasing nnz (stable), int32: the SpMM kernel's row swizzle."""
    lengths = indptr[1:].long() - indptr[:-1].long()
    return torch.argsort(lengths, descending=True, stable=True).to(torch.int32)


def _check_csr_operands(indptr, indices, values, bias, x):
    check_tensor(indptr, "indptr", (torch.int32,), 1)
    check_tensor(indices, "indices", (torch.int32,), 1)
    check_tensor(values, "values", (torch.float32,), 1)
    if indices.numel() != values.numel():
        raise ValueError(f"indices ({indices.numel()}) and values ({values.numel()}) must have the same length")
    if indptr.numel() < 1:
        raise ValueError("indptr: expected N + 1 >= 1 entries")
    n = indptr.numel() - 1
    if bias is not None:
        check_tensor(bias, "bias", (torch.float32,), 1)
        if bias.shape[0] != n:
            raise ValueError(f"bias: expected shape ({n},), got {tuple(bias.shape)}")
    return check_same_device([("x", x), ("indptr", indptr), ("indices", indices), ("values", values),
                              ("bias", bias)])


def spmm_csr_cuda(indptr: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, x: torch.Tensor,
                  bias: Optional[torch.Tensor] = None, row_order: Optional[torch.Tensor] = None,
                  validate: bool = True) -> torch.Tensor:
    """Y (M, N) = x (M, K) float32 @ W^T + bias for W (N, K) in CSR (int32 indptr / indices, float32
    values), on CUDA. ``row_order`` (int32 permutation of the rows, see csr_row_order) balances the
    blocks; ``validate`` checks the CSR structure first (one device sync)."""
    mod = cuda_module()
    check_tensor(x, "x", (torch.float32,), 2)
    device = _check_csr_operands(indptr, indices, values, bias, x)
    n, k = indptr.numel() - 1, x.shape[1]
    if row_order is not None:
        check_tensor(row_order, "row_order", (torch.int32,), 1)
        check_same_device([("x", x), ("row_order", row_order)])
        if row_order.numel() != n:
            raise ValueError(f"row_order: expected {n} entries, got {row_order.numel()}")
    if validate:
        validate_csr(indptr, indices, k)
    return _spmm_launch(mod, indptr, indices, values, bias, x, row_order, device)


def _spmm_launch(mod, indptr, indices, values, bias, x2, row_order, device):
    n, (m, k) = indptr.numel() - 1, x2.shape
    # The kernel wants X transposed (K, M), so the columns one lane group reads are contiguous.
    if m == 1:
        xt = x2.reshape(k, 1)
    else:
        xt = torch.empty(k, m, dtype=torch.float32, device=device)
        xt.copy_(x2.t())
    yt = torch.empty(n, m, dtype=torch.float32, device=device)
    mod.f32_spmm_csr(_ptr(indptr), _ptr(indices), _ptr(values), _ptr(row_order), n, k, indices.numel(),
                     _ptr(xt), m, m, _ptr(bias), _ptr(yt), m, _stream(device), device.index)
    return yt.t() if m == 1 else yt.t().contiguous()


# ---- module paths ----------------------------------------------------------------------------------

# Device copies of module weights, keyed weakly by module (by identity: a plain WeakKeyDictionary
# would call Tensor.__eq__ on lookups) so they die with it and never enter state_dicts, pickles or
# deepcopies; each entry remembers which buffer versions it was built from.
_cache_lock = threading.Lock()
_weight_cache = WeakIdKeyDictionary()
_csr_cache = WeakIdKeyDictionary()


def _version_key(t: Optional[torch.Tensor]):
    return None if t is None else (t.data_ptr(), t._version, str(t.device), t.dtype, tuple(t.shape))


def int8_linear_device_weights(module, device: torch.device):
    """(weight (N, Kp) int8, weight_scale (N,) f32, bias (N,) f32 or None, Kp) on `device`.

    Buffers already on `device` in the right form are used as they are; otherwise (CPU buffers, K not a
    multiple of 16) a padded device copy is built once and reused until a buffer changes (new storage
    or an in-place update such as load_state_dict)."""
    w, s, b = module.weight_int8, module.weight_scale, module.bias
    for name, t in (("weight_int8", w), ("weight_scale", s), ("bias", b)):
        if t is not None and t.device.type == "cuda" and t.device != device:
            raise ValueError(f"{type(module).__name__}: input is on {device} but {name} is on {t.device}; "
                             f"move the module with .to({str(device)!r})")
    k = w.shape[1]
    kp = padded_k(k)
    direct = (w.device == device and s.device == device and (b is None or b.device == device) and kp == k
              and w.is_contiguous() and s.is_contiguous() and s.dtype == torch.float32
              and (b is None or (b.is_contiguous() and b.dtype == torch.float32)))
    if direct:
        return w, s, b, kp
    key = (_version_key(w), _version_key(s), _version_key(b))
    with _cache_lock:
        hit = _weight_cache.get(module, {}).get(device)
    if hit is not None and hit[0] == key:
        return hit[1]
    entry = (pad_weight_k(w.to(device), kp),
             s.to(device=device, dtype=torch.float32).contiguous(),
             None if b is None else b.to(device=device, dtype=torch.float32).contiguous(),
             kp)
    with _cache_lock:
        _weight_cache.setdefault(module, {})[device] = (key, entry)
    return entry


def int8_linear_cuda(module, x: torch.Tensor) -> torch.Tensor:
    """Int8Linear.forward for CUDA inputs: per-row quantization -> int8 GEMM -> fused dequant + bias,
    the same arithmetic as the CPU path (fp16 / bf16 inputs quantize exactly as after widening to
    fp32, and their outputs are the fp32 result rounded once)."""
    name = type(module).__name__
    if x.device.type != "cuda":
        raise ValueError(f"{name}: input is on {x.device}; nnslim runs on cpu and cuda tensors only")
    mod = cuda_module()
    n, k = module.out_features, module.in_features
    device = x.device
    w, w_scale, bias, kp = int8_linear_device_weights(module, device)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, k)
    if x2.dtype not in _IN_CODES:  # float64: quantize its fp32 rounding, as the CPU path does
        x2 = x2.float()
    x2 = x2.contiguous()
    m = x2.shape[0]
    if m == 0:
        return torch.empty(*lead, n, dtype=x.dtype, device=device)
    out_dtype = x2.dtype if x2.dtype in (torch.float16, torch.bfloat16) else torch.float32
    stream = _stream(device)

    q = torch.empty(m, kp, dtype=torch.int8, device=device)
    a_scale = torch.empty(m, dtype=torch.float32, device=device)
    mod.qs8_quantize_rows(_ptr(x2), _ptr(q), _ptr(a_scale), m, k, kp, k, kp, _IN_CODES[x2.dtype], stream,
                          device.index)
    if kp <= CHUNK_K:
        y = torch.empty(m, n, dtype=out_dtype, device=device)
        mod.qs8_gemm(_ptr(q), _ptr(w), _ptr(y), m, n, kp, kp, kp, n, _OUT_CODES[out_dtype], _ptr(a_scale),
                     _ptr(w_scale), _ptr(bias), False, stream, device.index, "auto")
    else:
        y = _chunked_k_linear(mod, q, w, a_scale, w_scale, bias, stream, device).to(out_dtype)
    y = y.reshape(*lead, n)
    return y if y.dtype == x.dtype else y.to(x.dtype)


def _chunked_k_linear(mod, q, w, a_scale, w_scale, bias, stream, device):
    """Long K: exact int32 GEMMs over K chunks, dequantized and summed in fp32 exactly as the CPU
    kernels do (same chunks, first chunk + bias, then the others added), so results stay bitwise equal
    to the CPU path and K may exceed the exact int32 range."""
    m, kp = q.shape
    n = w.shape[0]
    scale = a_scale[:, None] * w_scale[None, :]
    acc = torch.empty(m, n, dtype=torch.int32, device=device)
    y = None
    for k0 in range(0, kp, CHUNK_K):
        kc = min(CHUNK_K, kp - k0)
        mod.qs8_gemm(q.data_ptr() + k0, w.data_ptr() + k0, _ptr(acc), m, n, kc, kp, kp, n, _OUT_CODES[torch.int32],
                     0, 0, 0, False, stream, device.index, "auto")
        part = acc.float() * scale
        if y is None:
            y = part + bias if bias is not None else part
        else:
            y += part
    return y


def sparse_device_operands(indptr, indices, values, bias, device: torch.device, n_cols: int):
    """(indptr int32, indices int32, values f32, bias f32 or None, row_order int32) on `device`, from
    CSR buffers in their portable form (indptr int32 or int64, on the CPU or on `device`).

    The structure is validated (one sync) and the kernel's operands built once, then reused until a
    buffer changes (new storage or an in-place update)."""
    named = (("indptr", indptr), ("indices", indices), ("values", values), ("bias", bias))
    for name, t in named:
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.device.type == "cuda" and t.device != device:
            raise ValueError(f"SparseLinear: input is on {device} but {name} is on {t.device}; "
                             f"move the module with .to({str(device)!r})")
        if t.dim() != 1:
            raise ValueError(f"{name}: expected 1 dimension, got shape {tuple(t.shape)}")
    for name, t, ok in (("indptr", indptr, (torch.int32, torch.int64)), ("indices", indices, (torch.int32, torch.int64)),
                        ("values", values, (torch.float32,)), ("bias", bias, (torch.float32,))):
        if t is not None and t.dtype not in ok:
            want = " or ".join(str(d).replace("torch.", "") for d in ok)
            raise TypeError(f"{name}: expected dtype {want}, got {str(t.dtype).replace('torch.', '')}")
    if indptr.numel() < 1:
        raise ValueError("indptr: expected N + 1 >= 1 entries")
    if indices.numel() != values.numel():
        raise ValueError(f"indices ({indices.numel()}) and values ({values.numel()}) must have the same length")
    if indices.numel() > 0x7FFFFFFF:
        raise ValueError(f"nnz = {indices.numel()} exceeds the int32 range of the CUDA kernel")
    n = indptr.numel() - 1
    if bias is not None and bias.shape[0] != n:
        raise ValueError(f"bias: expected shape ({n},), got {tuple(bias.shape)}")

    key = tuple(_version_key(t) for _, t in named) + (int(n_cols),)
    with _cache_lock:
        hit = _csr_cache.get(indptr, {}).get(device)
    if hit is not None and hit[0] == key:
        return hit[1]
    validate_csr(indptr, indices, n_cols)  # also bounds indptr by nnz < 2^31, so int32 is exact
    entry = (indptr.to(device=device, dtype=torch.int32).contiguous(),
             indices.to(device=device, dtype=torch.int32).contiguous(),
             values.to(device=device).contiguous(),
             None if bias is None else bias.to(device=device).contiguous())
    entry = entry + (csr_row_order(entry[0]),)
    with _cache_lock:
        _csr_cache.setdefault(indptr, {})[device] = (key, entry)
    return entry


def sparse_linear_cuda(indptr: torch.Tensor, indices: torch.Tensor, values: torch.Tensor,
                       bias: Optional[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """SparseLinear.forward for CUDA inputs: y (..., N) = x (..., K) @ W^T + bias for W (N, K) in CSR:
    indptr (N + 1,) int32 or int64, indices (nnz,) int32 or int64, values (nnz,) float32, bias (N,)
    float32 or None; on the CPU or on x's device. K is x.shape[-1]. The structure is validated and the
    device operands (int32 indices, row order) built once per set of buffers, see
    sparse_device_operands."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if x.device.type != "cuda":
        raise ValueError(f"SparseLinear: input is on {x.device}; nnslim runs on cpu and cuda tensors only")
    mod = cuda_module()
    if x.dim() == 0:
        raise ValueError("x: expected at least one dimension (..., in_features)")
    if not x.is_floating_point():
        raise TypeError(f"x: expected a floating-point tensor, got {x.dtype}")
    device = x.device
    k = x.shape[-1]
    ip, ix, vals, b, order = sparse_device_operands(indptr, indices, values, bias, device, k)
    n = ip.numel() - 1
    lead = x.shape[:-1]
    x2 = x.reshape(-1, k)
    if x2.dtype != torch.float32:
        x2 = x2.float()
    x2 = x2.contiguous()
    if x2.shape[0] == 0:
        return torch.empty(*lead, n, dtype=x.dtype, device=device)
    y = _spmm_launch(mod, ip, ix, vals, b, x2, order, device).reshape(*lead, n)
    return y if y.dtype == x.dtype else y.to(x.dtype)
