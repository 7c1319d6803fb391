"""CPU feature report: which kernel paths this machine offers and which one runs."""
from __future__ import annotations

import functools
from typing import Any, Dict

from nnslim import _native


def cpu_info() -> Dict[str, Any]:
    """``{"available": [...], "selected": "avx512_vnni", "threads": 2, "cuda_module": bool, ...}``.

    ``NNSLIM_ISA`` (scalar | avx2 | avx512_vnni | amx) forces a path, downgrade only; asking for one this
    CPU or OS cannot run raises ``RuntimeError``.
    """
    info: Dict[str, Any] = {"cpu": cpu_model(), "threads": _native.num_threads(),
                            "cuda_module": _native.has_cuda_module()}
    if not _native.has_cpu_kernels():
        info.update(available=[], selected=None, error="compiled kernels not built")
        return info
    info.update(_native.C.cpu_info())
    if info.get("selected") == "avx2":
        # The one setting whose speed depends on the CPU kind (bench/bench_int8_linear.py,
        # bench/bench_graph_int8.py, Zen 3): worth knowing before choosing a config.
        info["int8_note"] = ("AVX2 without VNNI: exact 8-bit products need sign steps; activation_bits=7 "
                             "(Int8DynamicConfig / Int8StaticConfig) multiplies 1.2-1.4x faster at a small "
                             "accuracy cost")
    return info


@functools.lru_cache(maxsize=None)
def cpu_model() -> str:
    """The CPU's name as the OS reports it, with family / model numbers (virtual machines often say
    only "AMD EPYC"; the numbers tell the generation, e.g. family 25 = Zen 3 / Zen 4, 26 = Zen 5)."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            fields = {}
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        name = fields.get("model name", platform.processor() or platform.machine())
        if "cpu family" in fields and "model" in fields:
            name += f" (family {fields['cpu family']}, model {fields['model']})"
        return name
    except OSError:
        return platform.processor() or platform.machine()
