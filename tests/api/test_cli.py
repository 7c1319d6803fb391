"""The nnslim command: exit codes, errors, inspect, info."""
import json
import subprocess
import sys

import pytest
import torch

import nnslim
from nnslim import datasets
from nnslim.cli import main


def test_info(capsys):
    assert main(["info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["selected"] in info["available"] and "cuda_module" in info


def test_inspect(tmp_path, capsys):
    m = nnslim.quantize(datasets.DigitsCNN(4).eval(), "int8_dynamic")
    nnslim.save(m, tmp_path / "m.nns")
    assert main(["inspect", str(tmp_path / "m.nns")]) == 0
    out = capsys.readouterr().out
    assert "Int8Linear" in out and "int8" in out


def test_errors_exit_nonzero(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing.nns")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "r.yaml").write_text("stages:\n  - quantize: {config: int8_dynamic}\n")
    assert main(["compress", "--model", "no_such_module:make", "--recipe", str(tmp_path / "r.yaml"),
                 "--out", str(tmp_path / "o.nns")]) == 2
    assert "cannot import module" in capsys.readouterr().err
    assert main(["compress", "--model", "nnslim.datasets:DigitsCNN", "--recipe", str(tmp_path / "nope.yaml"),
                 "--out", str(tmp_path / "o.nns")]) == 2
    with pytest.raises(SystemExit):
        main(["frobnicate"])


def test_compress_command(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text("stages:\n  - quantize: {config: int8_static}\n")
    rc = main(["compress", "--model", "nnslim.datasets:DigitsCNN", "--recipe", str(tmp_path / "r.yaml"),
               "--out", str(tmp_path / "o.nns"), "--data", "digits"])
    assert rc == 0
    assert (tmp_path / "o.nns").exists() and (tmp_path / "o.report.json").exists()
    loaded = nnslim.load(tmp_path / "o.nns", datasets.DigitsCNN())
    with torch.no_grad():
        assert loaded(torch.rand(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.slow
def test_demo_quick_runs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nnslim.cli", "demo", "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "compression report" in r.stdout
    assert (tmp_path / "report.json").exists() and (tmp_path / "digits_student.nns").exists()


def test_bench_quick_prints_every_family(capsys):
    assert main(["bench", "--quick"]) == 0
    out = capsys.readouterr().out
    for title in ("Int8Linear", "Int8Conv2d", "Int4Linear", "SparseLinear"):
        assert title in out
    assert "failed:" not in out
    summary = out.split("## Summary (paste this)")[1]
    import nnslim

    assert nnslim.cpu_info()["cpu"] in summary and f"selected {nnslim.cpu_info()['selected']}" in summary
    assert "geomean of" in summary and "vs best torch.ao" in summary


def test_cpu_info_says_when_7_bit_activations_pay(force_isa):
    """On the AVX2 path (no VNNI) cpu_info names the setting that is 1.2-1.4x faster there."""
    available = nnslim.cpu_info()["available"]
    if "avx2" in available:
        force_isa("avx2")
        info = nnslim.cpu_info()
        assert info["selected"] == "avx2" and "activation_bits=7" in info["int8_note"]
    force_isa("scalar")
    assert "int8_note" not in nnslim.cpu_info()
