"""nnslim.save / nnslim.load: round trips, compact files, and every bad-file path."""
import copy
import json
import os

import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim import datasets


def _static_model():
    m = datasets.DigitsCNN(8).eval()
    q = nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False),
                        calibration_data=[torch.rand(4, 1, 8, 8)])
    return m, q


def test_round_trip_static_and_dynamic(tmp_path):
    _, q = _static_model()
    x = torch.rand(3, 1, 8, 8)
    nnslim.save(q, tmp_path / "m.nns")
    q2 = nnslim.load(tmp_path / "m.nns", datasets.DigitsCNN(8))
    with torch.no_grad():
        assert torch.equal(q(x), q2(x))
    mlp = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    nnslim.quantize(mlp, "int8_dynamic")
    nnslim.save(mlp, tmp_path / "d.nns")
    mlp2 = nnslim.load(tmp_path / "d.nns", nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)))
    x = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(mlp(x), mlp2(x))


def test_int8_file_is_compact(tmp_path):
    m = datasets.DigitsCNN(32).eval()
    torch.save(m.state_dict(), tmp_path / "fp32.pt")
    q = nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False),
                        calibration_data=[torch.rand(4, 1, 8, 8)])
    nnslim.save(q, tmp_path / "int8.nns")
    ratio = os.path.getsize(tmp_path / "int8.nns") / os.path.getsize(tmp_path / "fp32.pt")
    assert ratio <= 0.27


def test_bad_files(tmp_path):
    _, q = _static_model()
    good = tmp_path / "m.nns"
    nnslim.save(q, good)
    data = good.read_bytes()
    (tmp_path / "trunc.nns").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        nnslim.load(tmp_path / "trunc.nns", datasets.DigitsCNN(8))
    (tmp_path / "junk.nns").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="not a readable nnslim file"):
        nnslim.load(tmp_path / "junk.nns", datasets.DigitsCNN(8))
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="not an nnslim one"):
        nnslim.load(tmp_path / "foreign.safetensors", datasets.DigitsCNN(8))
    save_file({"a": torch.zeros(2)}, str(tmp_path / "future.nns"),
              metadata={"format": "nnslim", "format_version": "99", "modules": "{}"})
    with pytest.raises(ValueError, match="Upgrade nnslim"):
        nnslim.load(tmp_path / "future.nns", datasets.DigitsCNN(8))
    wrong_type = datasets.DigitsCNN(8)
    wrong_type.features[0] = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="is a Linear in the model but a Int8Conv2d"):
        nnslim.load(good, wrong_type)
    with pytest.raises(ValueError, match="does not match the model"):
        nnslim.load(good, nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(FileNotFoundError):
        nnslim.load(tmp_path / "missing.nns", datasets.DigitsCNN(8))


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    _, q = _static_model()
    target = tmp_path / "m.nns"
    target.write_bytes(b"previous contents")
    import safetensors.torch

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        nnslim.save(q, target)
    assert target.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["m.nns"]
    with pytest.raises(FileNotFoundError, match="directory"):
        nnslim.save(q, tmp_path / "nope" / "m.nns")
