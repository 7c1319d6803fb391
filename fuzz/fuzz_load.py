"""Fuzz target: mutated nnslim files into nnslim.load.

Run with atheris:   python fuzz/fuzz_load.py -atheris_runs=20000
Contract: a clear ValueError (or FileNotFoundError / TypeError) for anything that is not a valid
file for the model; never a crash, a hang, or a half-loaded model passed off as success.
"""
import os
import sys
import tempfile

import torch

import nnslim
from nnslim import datasets

_SEED = None


def seed_file() -> bytes:
    global _SEED
    if _SEED is None:
        m = nnslim.quantize(datasets.DigitsCNN(2).eval(), "int8_dynamic")
        with tempfile.TemporaryDirectory() as d:
            nnslim.save(m, os.path.join(d, "m.nns"))
            _SEED = open(os.path.join(d, "m.nns"), "rb").read()
    return _SEED


def mutate(seed: bytes, data: bytes) -> bytes:
    """Byte flips / truncation / splices of a valid file driven by the fuzz input."""
    out = bytearray(seed)
    for i in range(0, len(data) - 2, 3):
        op, a, b = data[i], data[i + 1], data[i + 2]
        pos = (a * 256 + b) % max(len(out), 1)
        if op % 4 == 0 and out:
            out[pos] = b
        elif op % 4 == 1:
            del out[pos:]
        elif op % 4 == 2:
            out[pos:pos] = bytes([a, b])
        else:
            out = out[:8] + bytes(data[i:i + 32]) + out[8 + 32:]
    return bytes(out)


def test_one_input(data: bytes) -> None:
    blob = mutate(seed_file(), data)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "f.nns")
        with open(p, "wb") as f:
            f.write(blob)
        try:
            m = nnslim.load(p, datasets.DigitsCNN(2))
        except (ValueError, TypeError, FileNotFoundError):
            return
        with torch.no_grad():
            m(torch.rand(1, 1, 8, 8))  # loaded successfully: it must run


if __name__ == "__main__":
    import atheris

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
