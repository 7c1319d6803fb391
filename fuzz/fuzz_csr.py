"""Fuzz target: CSR arrays from arbitrary bytes into the native CSR validator and SpMM.

Run with atheris:   python fuzz/fuzz_csr.py -atheris_runs=200000
The same test_one_input runs in the test suite (tests/hardening/test_fuzz_targets.py).
Contract: only ValueError / TypeError may come out; never a crash or a hang.
"""
import sys

import numpy as np

from nnslim._native import C


def _take(data: bytes, pos: int, n: int):
    chunk = data[pos:pos + n]
    return chunk + b"\x00" * (n - len(chunk)), pos + n


def test_one_input(data: bytes) -> None:
    pos = 0
    head, pos = _take(data, pos, 4)
    rows, cols, nnz, mode = head[0] % 9, head[1] % 9, head[2] % 20, head[3]
    raw, pos = _take(data, pos, 8 * (rows + 1))
    indptr = np.frombuffer(raw, dtype=np.int64).copy() if mode & 1 else np.sort(
        np.frombuffer(raw, dtype=np.uint8)[: rows + 1].astype(np.int64) % (nnz + 1))
    if not mode & 1 and len(indptr):
        indptr[0], indptr[-1] = 0, nnz
    raw, pos = _take(data, pos, 4 * nnz)
    indices = np.frombuffer(raw, dtype=np.int32).copy()
    if mode & 2:
        indices = (indices.astype(np.int64) % max(cols, 1)).astype(np.int32)
    raw, pos = _take(data, pos, 4 * nnz)
    values = np.frombuffer(raw, dtype=np.float32).copy()
    if mode & 4:
        indices = indices.astype(np.int64)  # wrong dtype on purpose
    try:
        C.csr_validate(indptr, indices, values, (rows, cols))
        op = C.SparseLinearF32(indptr, indices, values, (rows, cols))
        x = np.ones((3, cols), np.float32)
        y = op.forward(x, None, 2)
        assert y.shape == (3, rows)
    except (ValueError, TypeError):
        pass


if __name__ == "__main__":
    import atheris

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
