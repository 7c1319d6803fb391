"""nnslim._cuda as a built artifact: imports without a GPU, degrades gracefully without a driver,
keeps its static CUDA runtime private, and its absence is a clear error."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from nnslim import _native
from nnslim.nn import _cuda_ops


def test_imports_and_reports_devices_without_touching_a_gpu(cuda_mod):
    assert cuda_mod.device_count() >= 0
    if not torch.cuda.is_available():
        assert cuda_mod.device_count() == 0
    assert cuda_mod.runtime_version() >= 11000
    assert cuda_mod.driver_version() >= 0
    assert cuda_mod.MAX_EXACT_K == _cuda_ops.MAX_EXACT_K == 131071
    assert cuda_mod.MMA_K_ALIGN == _cuda_ops.K_ALIGN


def test_import_with_no_visible_gpu_in_a_fresh_process(cuda_mod):
    # CUDA_VISIBLE_DEVICES="" hides every GPU even on a GPU machine: import and device_count() must
    # still work (no CUDA call at import, no exception from the runtime).
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    code = ("from nnslim import _native; m = _native.CUDA; "
            "assert _native.has_cuda_module(); print(m.device_count())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


def test_device_queries_fail_cleanly_without_a_device(cuda_mod):
    if cuda_mod.device_count() > 0:
        pytest.skip("a device is present")
    with pytest.raises(RuntimeError, match="nnslim CUDA"):
        cuda_mod.device_info(0)


def test_static_runtime_symbols_are_not_exported(cuda_mod):
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm not available")
    out = subprocess.run([nm, "-D", "--defined-only", cuda_mod.__file__], capture_output=True, text=True)
    exported = [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]
    leaked = [s for s in exported if s.startswith(("cuda", "__cuda", "cu"))]
    assert not leaked, f"static CUDA runtime symbols exported (would clash with torch's libcudart): {leaked[:5]}"


def test_missing_module_is_a_clear_runtime_error(monkeypatch):
    monkeypatch.setattr(_native, "CUDA", _native._Missing("_cuda", ImportError("not built")))
    assert not _native.has_cuda_module()
    a = torch.zeros(2, 16, dtype=torch.int8)
    for call in (lambda: _cuda_ops.cuda_module(),
                 lambda: _cuda_ops.qs8_gemm_cuda(a, a),
                 lambda: _cuda_ops.quantize_rows_cuda(torch.zeros(2, 16)),
                 lambda: _cuda_ops.spmm_csr_cuda(torch.zeros(2, dtype=torch.int32), torch.zeros(0, dtype=torch.int32),
                                                 torch.zeros(0), torch.zeros(1, 4))):
        with pytest.raises(RuntimeError, match=r"nnslim\._cuda\) was not built"):
            call()
