import os

import pytest
import torch

torch.manual_seed(0)


def available_isas():
    from nnslim import _native

    if not _native.has_cpu_kernels():
        return []
    return list(_native.C.cpu_info()["available"])


@pytest.fixture(params=["scalar", "avx2", "avx512_vnni", "amx"])
def isa(request):
    """Every kernel path; the ones this CPU cannot run are skipped (the test names say which)."""
    if request.param not in available_isas():
        pytest.skip(f"{request.param} not available on this CPU/OS")
    return request.param


@pytest.fixture
def force_isa(monkeypatch):
    """Forces the kernel path modules pack for, as NNSLIM_ISA does for users."""
    def _force(name):
        monkeypatch.setenv("NNSLIM_ISA", name)
    return _force
