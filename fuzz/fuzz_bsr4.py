"""Fuzz target: 4x1 block-sparse int8 arrays from arbitrary bytes into the native block validator
and the block-sparse int8 kernel (the block form of fuzz_csr.py).

Run with atheris:   python fuzz/fuzz_bsr4.py -atheris_runs=200000
The same test_one_input runs in the test suite (tests/hardening/test_fuzz_targets.py).
Contract: only ValueError / TypeError may come out, never a crash or a hang; arrays the validator
accepts give the reference's exact int32 product.
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
    rows, cols, nblocks, mode = head[0] % 11, head[1] % 19, head[2] % 24, head[3]
    nbr = (rows + 3) // 4
    raw, pos = _take(data, pos, 8 * (nbr + 1))
    indptr = np.frombuffer(raw, dtype=np.int64).copy() if mode & 1 else np.sort(
        np.frombuffer(raw, dtype=np.uint8)[: nbr + 1].astype(np.int64) % (nblocks + 1))
    if not mode & 1 and len(indptr):
        indptr[0], indptr[-1] = 0, nblocks
    raw, pos = _take(data, pos, 4 * nblocks)
    indices = np.frombuffer(raw, dtype=np.int32).copy()
    if mode & 2:
        indices = (indices.astype(np.int64) % max(cols, 1)).astype(np.int32)
        for b in range(len(indptr) - 1):  # often make rows valid: sorted unique columns
            lo, hi = int(indptr[b]), int(indptr[b + 1])
            if 0 <= lo <= hi <= nblocks and mode & 16:
                indices[lo:hi] = np.arange(hi - lo, dtype=np.int32) * max(1, cols // max(1, hi - lo))
    raw, pos = _take(data, pos, 4 * nblocks)
    values = np.frombuffer(raw, dtype=np.int8).copy().reshape(nblocks, 4)
    if mode & 32 and rows % 4:
        values[:, rows % 4:] = 0  # padded rows must be zero
    if mode & 4:
        indices = indices.astype(np.float32)  # wrong dtype on purpose
    if mode & 8:
        values = values.reshape(-1)  # wrong shape on purpose
    try:
        C.bsr4_validate(indptr, indices, values, (rows, cols))
        op = C.SparseInt8LinearOp(indptr, indices, values, (rows, cols))
        a = np.frombuffer((data * 4)[: 3 * cols] + b"\x00" * (3 * cols), dtype=np.int8)[: 3 * cols].reshape(3, cols)
        got = op.gemm_s32(np.ascontiguousarray(a), 2)
        want = C.ref_qs8_bsr4_spmm_s32(indptr, indices, values, (rows, cols), np.ascontiguousarray(a))
        assert np.array_equal(got, want)
    except (ValueError, TypeError):
        pass


if __name__ == "__main__":
    import atheris

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
