"""Resource safety: repeated forward calls do not grow memory, packed weights are freed with their
module, and modules give identical results when called from several threads at once."""
import gc
import os
import threading

import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim.nn import Int8Conv2d, Int8Linear


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")


def _growth(fn, warmup=300, calls=10_000):
    for _ in range(warmup):
        fn()
    gc.collect()
    before = _rss_bytes()
    for _ in range(calls):
        fn()
    gc.collect()
    return _rss_bytes() - before


def test_int8_linear_10k_calls_do_not_grow_rss():
    q = Int8Linear.from_float(nn.Linear(64, 64))
    x = torch.randn(4, 64)
    with torch.inference_mode():
        assert _growth(lambda: q(x)) < 4 << 20


def test_int8_conv_and_sparse_10k_calls_do_not_grow_rss():
    conv = Int8Conv2d.from_float(nn.Conv2d(4, 8, 3, padding=1), input_qparams=(0.05, 0))
    x = torch.randn(1, 4, 6, 6)
    with torch.inference_mode():
        assert _growth(lambda: conv(x)) < 4 << 20
    lin = nn.Linear(64, 64)
    with torch.no_grad():
        lin.weight[:, ::2] = 0
    sparse = nnslim.nn.SparseLinear.from_dense(lin)
    with torch.inference_mode():
        assert _growth(lambda: sparse(torch.randn(2, 64))) < 4 << 20


def test_packed_weights_freed_with_module():
    def make_and_drop():
        q = Int8Linear.from_float(nn.Linear(1024, 1024))  # ~1 MB int8 + the packed copy
        with torch.inference_mode():
            q(torch.randn(1, 1024))
        del q

    assert _growth(make_and_drop, warmup=5, calls=100) < 16 << 20


@pytest.mark.parametrize("kind", ["int8_linear", "int8_conv", "sparse_linear"])
def test_four_threads_identical_results(kind):
    torch.manual_seed(0)
    if kind == "int8_linear":
        mod, x = Int8Linear.from_float(nn.Linear(256, 384)), torch.randn(33, 256)
    elif kind == "int8_conv":
        mod, x = Int8Conv2d.from_float(nn.Conv2d(16, 32, 3, padding=1), input_qparams=(0.05, 3)), torch.randn(2, 16, 12, 12)
    else:
        lin = nn.Linear(256, 384)
        with torch.no_grad():
            lin.weight[torch.rand_like(lin.weight) < 0.8] = 0
        mod, x = nnslim.nn.SparseLinear.from_dense(lin), torch.randn(33, 256)
    with torch.inference_mode():
        want = mod(x)
    results, errors = [[] for _ in range(4)], []

    def run(i):
        try:
            with torch.inference_mode():
                for _ in range(25):
                    results[i].append(mod(x))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(torch.equal(r, want) for rs in results for r in rs)
