"""Fixtures for the CUDA tests. Host-side tests (argument checks, dispatch decisions, packing) run
everywhere; kernel tests need a GPU and the built nnslim._cuda and skip cleanly otherwise."""
import pytest
import torch

from nnslim import _native


@pytest.fixture
def cuda_mod():
    """The compiled nnslim._cuda (no GPU needed)."""
    if not _native.has_cuda_module():
        pytest.skip("nnslim._cuda was not built (no CUDA compiler at build time)")
    return _native.CUDA


@pytest.fixture
def gpu(cuda_mod):
    """A usable CUDA device for the kernels; yields its torch.device."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU available (torch.cuda.is_available() is False)")
    if cuda_mod.device_count() < 1:
        pytest.skip(f"nnslim._cuda sees no device (driver {cuda_mod.driver_version()} vs runtime "
                    f"{cuda_mod.runtime_version()}: the driver may be too old for the runtime nnslim was built with)")
    return torch.device("cuda", torch.cuda.current_device())


class FakeCuda:
    """Stands in for nnslim._cuda: records calls, so tests can assert that bad arguments never
    reach a launch."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append(name)
            return "fake"
        return record


@pytest.fixture
def fake_cuda(monkeypatch):
    fake = FakeCuda()
    monkeypatch.setattr(_native, "CUDA", fake)
    return fake
