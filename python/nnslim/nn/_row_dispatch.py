"""Kernel choice per call shape: on AMX machines the fewest rows (decode: M = 1..3) run faster on the
AVX-512 VNNI kernel, which needs no AMX tile configuration and no padding to a 16-row tile. Measured
on an AMX Xeon, 2 threads (768x3072, 3072x768, 4096x4096; the AMX kernel has a 16-row variant):
VNNI is 1.0-1.5x faster at 1 row, the two tie around 3-4 rows, and AMX is 1.75-1.85x faster at 16.
Every path returns the same integers, so switching per call never changes a result."""
from __future__ import annotations

from typing import Dict, Tuple

# selected path -> (path for few rows, the largest row count that uses it)
SMALL_ROWS_KERNEL: Dict[str, Tuple[str, int]] = {"amx": ("avx512_vnni", 3)}


def kernel_for_rows(selected: str, rows: int) -> str:
    """The kernel path a call with ``rows`` rows uses when ``selected`` is the module's packed path."""
    alt = SMALL_ROWS_KERNEL.get(selected)
    return alt[0] if alt is not None and rows <= alt[1] else selected


def conv_gemm_kernel(selected: str, k: int, n: int) -> str:
    """The GEMM path for a convolution with reduction length ``k`` (in_channels / groups * kh * kw) and
    ``n`` output channels per group. AMX pads K to 64, so short reductions (the expand 1x1 convs of
    MobileNets, K = 16..32) and narrow outputs waste most of each tile; measured on an AMX Xeon, VNNI is
    1.1-1.5x faster there and AMX 1.1-1.6x faster from K >= 64 with N >= 64, or K >= 192."""
    if selected == "amx" and (k < 64 or (n <= 32 and k < 192)):
        return "avx512_vnni"
    return selected
