"""Kernel choice per call shape: on AMX machines a few rows (decode: M = 1..7) run faster on the
AVX-512 VNNI kernel, whose tile needs no AMX tile configuration and no 16-row padding. Measured on
an AMX Xeon, 2 threads (768x3072, 3072x768, 4096x4096): VNNI is 1.3-1.8x faster at 1 row, even at
8 rows, and AMX is 1.3-1.6x faster at 16 rows.
Every path returns the same integers, so switching per call never changes a result."""
from __future__ import annotations

from typing import Dict, Tuple

# selected path -> (path for few rows, the largest row count that uses it)
SMALL_ROWS_KERNEL: Dict[str, Tuple[str, int]] = {"amx": ("avx512_vnni", 7)}


def kernel_for_rows(selected: str, rows: int) -> str:
    """The kernel path a call with ``rows`` rows uses when ``selected`` is the module's packed path."""
    alt = SMALL_ROWS_KERNEL.get(selected)
    return alt[0] if alt is not None and rows <= alt[1] else selected
