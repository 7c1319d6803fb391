"""CPU feature report: which kernel paths this machine offers and which one runs."""
from __future__ import annotations

from typing import Any, Dict

from nnslim import _native


def cpu_info() -> Dict[str, Any]:
    """``{"available": [...], "selected": "avx512_vnni", "threads": 2, "cuda_module": bool, ...}``.

    ``NNSLIM_ISA`` (scalar | avx2 | avx512_vnni | amx) forces a path, downgrade only; asking for one this
    CPU or OS cannot run raises ``RuntimeError``.
    """
    info: Dict[str, Any] = {"threads": _native.num_threads(), "cuda_module": _native.has_cuda_module()}
    if not _native.has_cpu_kernels():
        info.update(available=[], selected=None, error="compiled kernels not built")
        return info
    info.update(_native.C.cpu_info())
    return info
