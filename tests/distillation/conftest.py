import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # The suite shares 2 cores with other work; tiny models gain nothing from more threads.
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)

