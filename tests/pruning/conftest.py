import pytest
import torch
from hypothesis import settings

# Shared, 2-core machine: keep torch single-threaded and hypothesis small and deadline-free.
torch.set_num_threads(1)
settings.register_profile("nnslim-pruning", max_examples=25, deadline=None, derandomize=True)
settings.load_profile("nnslim-pruning")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
