"""Kernel choice per call shape: on AMX machines a few rows (decode, online serving: M = 1..16) run
faster on the AVX-512 VNNI kernel, whose tile needs no AMX tile configuration and no 16-row padding.
Every path returns the same integers, so switching per call never changes a result."""
from __future__ import annotations

from typing import Dict, Tuple

# selected path -> (path for few rows, the largest row count that uses it)
SMALL_ROWS_KERNEL: Dict[str, Tuple[str, int]] = {"amx": ("avx512_vnni", 16)}


def kernel_for_rows(selected: str, rows: int) -> str:
    """The kernel path a call with ``rows`` rows uses when ``selected`` is the module's packed path."""
    alt = SMALL_ROWS_KERNEL.get(selected)
    return alt[0] if alt is not None and rows <= alt[1] else selected
