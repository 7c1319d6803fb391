"""Loads the compiled extensions.

``_C`` (CPU kernels) is required for anything that runs on nnslim's kernels; ``_cuda`` is optional.
When an extension is missing the module still imports, and a stand-in raises a clear error at the
first call, so pure-Python features (pruning masks, distillation) keep working in a source checkout.
"""
from __future__ import annotations

import os

# torch first: its bundled libgomp.so.1 is then the one the extension's OpenMP binds to, so nnslim's
# kernels and torch's ops share one thread team instead of fighting over the cores.
import torch  # noqa: F401


class _Missing:
    def __init__(self, name: str, error: BaseException):
        self._name = name
        self._error = error

    def __getattr__(self, attr):
        raise RuntimeError(
            f"nnslim.{self._name} (compiled kernels) is not available: {self._error}. "
            "Install nnslim with `pip install .` so the C++ extension is built."
        )

    def __bool__(self):
        return False


def _load_from_dir(name: str, directory: str):
    """Loads nnslim.<name> from a build directory (NNSLIM_EXTENSION_DIR), e.g. a sanitizer build."""
    import glob
    import importlib.util
    import sys

    paths = glob.glob(os.path.join(directory, f"{name}.*.so")) + glob.glob(os.path.join(directory, f"{name}.so"))
    if not paths:
        raise ImportError(f"NNSLIM_EXTENSION_DIR={directory!r} holds no {name} extension")
    spec = importlib.util.spec_from_file_location(f"nnslim.{name}", paths[0])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[f"nnslim.{name}"] = mod
    spec.loader.exec_module(mod)
    return mod


try:
    if os.environ.get("NNSLIM_EXTENSION_DIR"):
        C = _load_from_dir("_C", os.environ["NNSLIM_EXTENSION_DIR"])
    else:
        from nnslim import _C as C  # type: ignore[attr-defined]
except ImportError as exc:  # pragma: no cover - exercised only without a build
    C = _Missing("_C", exc)

try:
    if os.environ.get("NNSLIM_EXTENSION_DIR"):
        CUDA = _load_from_dir("_cuda", os.environ["NNSLIM_EXTENSION_DIR"])
    else:
        from nnslim import _cuda as CUDA  # type: ignore[attr-defined]
except ImportError as exc:
    CUDA = _Missing("_cuda", exc)


def has_cpu_kernels() -> bool:
    return not isinstance(C, _Missing)


def has_cuda_module() -> bool:
    return not isinstance(CUDA, _Missing)


def num_threads() -> int:
    """Threads the kernels may use: torch's setting, so one knob governs the whole process."""
    try:
        import torch

        return max(1, int(torch.get_num_threads()))
    except Exception:  # pragma: no cover
        return max(1, os.cpu_count() or 1)
