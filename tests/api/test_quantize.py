"""nnslim.quantize and the ISA selection contract."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim.nn import Int8Linear


def _mlp():
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Sequential(nn.Linear(64, 64), nn.GELU()), nn.Linear(64, 10))


def test_quantize_swaps_every_linear_in_place():
    m = _mlp()
    x = torch.randn(4, 32)
    ref = m(x)
    out = nnslim.quantize(m, "int8_dynamic")
    assert out is m
    assert sum(isinstance(mod, Int8Linear) for mod in m.modules()) == 3
    with torch.no_grad():
        assert ((m(x) - ref).norm() / ref.norm()) < 0.03


def test_filter_fn_and_per_name_mapping():
    m = _mlp()
    nnslim.quantize(m, "int8_dynamic", filter_fn=lambda mod, name: name != "3")
    assert isinstance(m[3], nn.Linear) and isinstance(m[0], Int8Linear)
    m = _mlp()
    nnslim.quantize(m, {"2.*": "int8_dynamic", "_default": None})
    assert isinstance(m[2][0], Int8Linear) and type(m[0]) is nn.Linear


def test_config_object_and_dict_round_trip():
    cfg = nnslim.Int8DynamicConfig()
    assert nnslim.QuantConfig.from_dict(cfg.to_dict()) == cfg
    m = nnslim.quantize(_mlp(), cfg)
    assert isinstance(m[0], Int8Linear)
    with pytest.raises(ValueError, match="weight_granularity"):
        nnslim.Int8DynamicConfig(weight_granularity="per_tensor_x")


def test_bad_preset_and_no_eligible_layers():
    with pytest.raises(ValueError, match="unknown quantization preset"):
        nnslim.quantize(_mlp(), "int3_magic")
    with pytest.raises(TypeError, match="nn.Module"):
        nnslim.quantize("model", "int8_dynamic")
    m = nn.Sequential(nn.ReLU())
    with pytest.warns(UserWarning, match="no eligible layers"):
        assert nnslim.quantize(m, "int8_dynamic") is m


def test_cpu_info_contract():
    info = nnslim.cpu_info()
    assert info["available"][0] == "scalar"
    assert info["selected"] in info["available"]
    assert info["threads"] == torch.get_num_threads()


def _run_with_isa(value):
    code = "import nnslim, torch; print(nnslim.cpu_info()['selected'])"
    env = dict(os.environ, NNSLIM_ISA=value)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_forced_isa_downgrade_and_errors():
    r = _run_with_isa("scalar")
    assert r.returncode == 0 and r.stdout.strip() == "scalar"
    r = _run_with_isa("sse9")
    assert r.returncode != 0 and "NNSLIM_ISA='sse9'" in r.stderr and "RuntimeError" in r.stderr
    missing = [i for i in ("avx2", "avx512_vnni", "amx") if i not in nnslim.cpu_info()["available"]]
    if missing:
        r = _run_with_isa(missing[-1])
        assert r.returncode != 0 and "not supported on this CPU" in r.stderr
