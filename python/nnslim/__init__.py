"""nnslim: make PyTorch models smaller and faster, and prove it with measurements."""
from __future__ import annotations

__version__ = "0.1.0"

from nnslim.hw import cpu_info  # noqa: E402

__all__ = ["cpu_info", "__version__"]
