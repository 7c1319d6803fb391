"""Int4Linear as a drop-in for nn.Linear, its quantizer, config and presets."""
import copy
import io
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim._native import C
from nnslim.nn import Int4Linear, Int8Linear
from nnslim.nn._q4 import quantize_int4, unpack_nibbles
from nnslim.quantization import Int4WeightConfig, QuantConfig


def _rel_err(y, ref):
    return ((y - ref).norm() / ref.norm()).item()


@pytest.mark.parametrize("shape", [(4, 256), (2, 3, 256), (1, 256), (2, 2, 2, 256)])
def test_matches_linear_any_leading_shape(isa, force_isa, shape):
    force_isa(isa)
    lin = nn.Linear(256, 48)
    q = Int4Linear.from_float(lin)
    assert "kernel=" + ("avx512_vnni" if isa == "amx" else isa) in repr(q)
    x = torch.randn(*shape)
    with torch.no_grad():
        y, ref = q(x), lin(x)
    assert y.shape == ref.shape and y.dtype == torch.float32
    assert _rel_err(y, ref) < 0.1


def test_output_is_the_kernel_reference_on_the_buffers():
    lin = nn.Linear(200, 70)  # 200 = one full group of 128 + a partial one
    q = Int4Linear.from_float(lin, Int4WeightConfig(group_size=128))
    assert q.weight_scale.shape == (70, 2) and q.weight_packed.shape == (70, 100)
    x = torch.randn(9, 200)
    with torch.no_grad():
        y = q(x)
    want = C.ref_q4_linear(x.numpy(), q.weight_packed.numpy(), q.weight_scale.numpy(), 128, None, q.bias.numpy())
    np.testing.assert_array_equal(y.numpy(), want)


def test_paths_agree_bitwise(force_isa):
    lin = nn.Linear(100, 70)
    x = torch.randn(13, 100)
    outs = []
    for isa in nnslim.cpu_info()["available"]:
        force_isa(isa)
        with torch.no_grad():
            outs.append(Int4Linear.from_float(lin)(x))
    for o in outs[1:]:
        assert torch.equal(o, outs[0])


@pytest.mark.parametrize("group_size", [32, 64, 128])
def test_quantizer_codes_scales_and_reconstruction(group_size):
    torch.manual_seed(0)
    w = torch.randn(16, 300)
    codes, scales = quantize_int4(w, group_size, mse_search=False)
    assert codes.dtype == torch.uint8 and codes.shape == (16, 150)
    assert scales.shape == (16, -(-300 // group_size))
    q = unpack_nibbles(codes, 300) - 8
    assert q.min() >= -8 and q.max() <= 7
    deq = q.float() * scales.repeat_interleave(group_size, 1)[:, :300]
    # Without the search every group's largest-magnitude weight is exact (it maps to -8).
    for g in range(scales.shape[1]):
        blk = slice(g * group_size, min(300, (g + 1) * group_size))
        idx = w[:, blk].abs().argmax(1)
        torch.testing.assert_close(deq[:, blk].gather(1, idx[:, None]), w[:, blk].gather(1, idx[:, None]))
    # The MSE search only ever lowers the error.
    codes2, scales2 = quantize_int4(w, group_size, mse_search=True)
    deq2 = (unpack_nibbles(codes2, 300) - 8).float() * scales2.repeat_interleave(group_size, 1)[:, :300]
    assert (deq2 - w).square().sum() <= (deq - w).square().sum()
    assert _rel_err(deq2, w) < 0.12


def test_smaller_groups_are_more_accurate():
    torch.manual_seed(0)
    lin = nn.Linear(1024, 256)
    with torch.no_grad():
        lin.weight.normal_()
    errs = [_rel_err(Int4Linear.from_float(lin, Int4WeightConfig(group_size=g)).dequantized_weight(), lin.weight)
            for g in (32, 64, 128)]
    assert errs[0] < errs[1] < errs[2] < 0.11


def test_state_dict_round_trip_and_repack():
    lin = nn.Linear(96, 16)
    q = Int4Linear.from_float(lin, Int4WeightConfig(group_size=32))
    buf = io.BytesIO()
    torch.save(q.state_dict(), buf)
    buf.seek(0)
    q2 = Int4Linear(96, 16, group_size=32)
    x = torch.randn(5, 96)
    with torch.no_grad():
        before = q2(x)  # packs the initial (all-zero) weights; loading must repack
        q2.load_state_dict(torch.load(buf))
        assert torch.equal(q(x), q2(x)) and not torch.equal(before, q2(x))
    sd = q.state_dict()
    assert set(sd) == {"weight_packed", "weight_scale", "bias"}
    assert sd["weight_packed"].dtype == torch.uint8 and sd["weight_packed"].shape == (16, 48)
    assert sd["weight_scale"].dtype == torch.float32 and sd["weight_scale"].shape == (16, 3)
    with pytest.raises(RuntimeError, match="size mismatch"):
        Int4Linear(96, 16, group_size=64).load_state_dict(sd)


def test_pickle_deepcopy_and_save_load(tmp_path):
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8))
    nnslim.quantize(model, Int4WeightConfig(group_size=32))
    x = torch.randn(3, 64)
    with torch.no_grad():
        want = model(x)
        assert torch.equal(copy.deepcopy(model)(x), want)
        assert torch.equal(pickle.loads(pickle.dumps(model))(x), want)
    nnslim.save(model, tmp_path / "m.nnslim")
    fresh = nnslim.load(tmp_path / "m.nnslim", nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8)))
    assert isinstance(fresh[0], Int4Linear) and fresh[0].group_size == 32
    with torch.no_grad():
        assert torch.equal(fresh(x), want)


def test_odd_in_features_no_bias_and_other_dtypes():
    lin = nn.Linear(33, 8, bias=False)
    q = Int4Linear.from_float(lin, Int4WeightConfig(group_size=32))
    assert q.weight_packed.shape == (8, 17) and q.bias is None
    assert "bias=False" in repr(q) and "group_size=32" in repr(q) and "bits=4" in repr(q)
    x = torch.randn(3, 33)
    with torch.no_grad():
        assert _rel_err(q(x), lin(x)) < 0.1
        assert q(x.to(torch.bfloat16)).dtype == torch.bfloat16
        assert q(x.half()).dtype == torch.float16
        assert q(x.double()).dtype == torch.float64


def test_non_contiguous_and_empty_inputs():
    lin = nn.Linear(64, 8)
    q = Int4Linear.from_float(lin)
    x = torch.randn(64, 6).t()
    with torch.no_grad():
        assert _rel_err(q(x), lin(x)) < 0.1
        assert q(torch.empty(0, 64)).shape == (0, 8)
        assert q(torch.empty(2, 0, 64)).shape == (2, 0, 8)


def test_nan_and_inf_propagate():
    q = Int4Linear.from_float(nn.Linear(64, 8))
    x = torch.randn(3, 64)
    x[1, 3] = float("nan")
    x[2, 0] = float("inf")
    with torch.no_grad():
        y = q(x)
    assert torch.isfinite(y[0]).all() and torch.isnan(y[1]).all() and not torch.isfinite(y[2]).any()


def test_bad_inputs_and_configs_raise_clear_errors():
    q = Int4Linear.from_float(nn.Linear(64, 8))
    with torch.no_grad():
        with pytest.raises(ValueError, match="size 64"):
            q(torch.randn(3, 63))
        with pytest.raises(TypeError, match="floating-point"):
            q(torch.ones(3, 64, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="inference-only"):
        q(torch.randn(2, 64, requires_grad=True))
    with pytest.raises(TypeError, match="nn.Linear"):
        Int4Linear.from_float(nn.Conv2d(1, 1, 1))
    with pytest.raises(TypeError, match="Int4WeightConfig"):
        Int4Linear.from_float(nn.Linear(4, 4), nnslim.Int8DynamicConfig())
    with pytest.raises(ValueError, match="group_size"):
        Int4WeightConfig(group_size=48)
    with pytest.raises(ValueError, match="group_size"):
        Int4Linear(64, 8, group_size=256)
    with pytest.raises(ValueError, match="bits"):
        Int4WeightConfig(bits=3)
    bad = nn.Linear(4, 4)
    with torch.no_grad():
        bad.weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or Inf"):
        Int4Linear.from_float(bad)
    if torch.cuda.is_available():
        with pytest.raises(NotImplementedError, match="CPU"), torch.no_grad():
            q(torch.randn(2, 64, device="cuda"))


def test_config_round_trip_preset_and_mapping():
    cfg = Int4WeightConfig(group_size=64)
    assert QuantConfig.from_dict(cfg.to_dict()) == cfg
    m = nnslim.quantize(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)), "int4_weight")
    assert isinstance(m[0], Int4Linear) and m[0].group_size == 128
    m = nnslim.quantize(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)),
                        {"0": cfg, "_default": "int8_dynamic"})
    assert isinstance(m[0], Int4Linear) and m[0].group_size == 64 and isinstance(m[2], Int8Linear)


def test_zero_weights_and_concurrent_calls():
    import threading

    lin = nn.Linear(64, 4)
    with torch.no_grad():
        lin.weight.zero_()
    x = torch.randn(2, 64)
    with torch.no_grad():
        torch.testing.assert_close(Int4Linear.from_float(lin)(x), lin(x))
    q = Int4Linear.from_float(nn.Linear(256, 512))
    x = torch.randn(16, 256)
    with torch.no_grad():
        want = q(x)
    results, errors = [None] * 4, []

    def run(i):
        try:
            with torch.no_grad():
                for _ in range(10):
                    results[i] = q(x)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(torch.equal(r, want) for r in results)
