import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread_and_seed():
    # Shared 2-core machine; restore afterwards so other suites (benchmarks) are unaffected.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
