"""Int8Linear as a drop-in for nn.Linear."""
import io

import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim.nn import Int8Linear


def _rel_err(y, ref):
    return ((y - ref).norm() / ref.norm()).item()


@pytest.mark.parametrize("shape", [(4, 64), (2, 3, 64), (1, 64), (2, 2, 2, 64)])
def test_matches_linear_any_leading_shape(isa, force_isa, shape):
    force_isa(isa)
    lin = nn.Linear(64, 48)
    q = Int8Linear.from_float(lin)
    assert f"kernel={isa}" in repr(q)
    x = torch.randn(*shape)
    with torch.no_grad():
        y, ref = q(x), lin(x)
    assert y.shape == ref.shape and y.dtype == torch.float32
    assert _rel_err(y, ref) < 0.02


def test_relative_error_under_two_percent_random_normal():
    torch.manual_seed(0)
    lin = nn.Linear(768, 3072)
    x = torch.randn(64, 768)
    with torch.no_grad():
        assert _rel_err(Int8Linear.from_float(lin)(x), lin(x)) < 0.02


def test_paths_agree_bitwise(force_isa):
    lin = nn.Linear(100, 70)
    x = torch.randn(13, 100)
    outs = []
    for isa in nnslim.cpu_info()["available"]:
        force_isa(isa)
        with torch.no_grad():
            outs.append(Int8Linear.from_float(lin)(x))
    for o in outs[1:]:
        assert torch.equal(o, outs[0])


def test_state_dict_round_trip_and_repack():
    lin = nn.Linear(32, 16)
    q = Int8Linear.from_float(lin)
    buf = io.BytesIO()
    torch.save(q.state_dict(), buf)
    buf.seek(0)
    q2 = Int8Linear(32, 16)
    q2.load_state_dict(torch.load(buf))
    x = torch.randn(5, 32)
    with torch.no_grad():
        assert torch.equal(q(x), q2(x))
    assert set(q.state_dict()) == {"weight_int8", "weight_scale", "bias"}
    assert q.state_dict()["weight_int8"].dtype == torch.int8


def test_no_bias_and_half_inputs():
    lin = nn.Linear(16, 8, bias=False)
    q = Int8Linear.from_float(lin)
    x = torch.randn(3, 16)
    with torch.no_grad():
        assert _rel_err(q(x), lin(x)) < 0.02
        assert q(x.to(torch.bfloat16)).dtype == torch.bfloat16
        assert q(x.double()).dtype == torch.float64


def test_non_contiguous_and_empty_inputs():
    lin = nn.Linear(16, 8)
    q = Int8Linear.from_float(lin)
    x = torch.randn(16, 6).t()  # non-contiguous (6, 16)
    with torch.no_grad():
        assert _rel_err(q(x), lin(x)) < 0.02
        assert q(torch.empty(0, 16)).shape == (0, 8)
        assert q(torch.empty(2, 0, 16)).shape == (2, 0, 8)


def test_nan_and_inf_propagate():
    lin = nn.Linear(16, 8)
    q = Int8Linear.from_float(lin)
    x = torch.randn(3, 16)
    x[1, 3] = float("nan")
    x[2, 0] = float("inf")
    with torch.no_grad():
        y = q(x)
    assert torch.isfinite(y[0]).all()
    assert torch.isnan(y[1]).all() and not torch.isfinite(y[2]).any()


def test_bad_inputs_raise_clear_errors():
    q = Int8Linear.from_float(nn.Linear(16, 8))
    with torch.no_grad():
        with pytest.raises(ValueError, match="size 16"):
            q(torch.randn(3, 15))
        with pytest.raises(TypeError, match="floating-point"):
            q(torch.ones(3, 16, dtype=torch.int64))
        with pytest.raises(TypeError, match="torch.Tensor"):
            q([1.0] * 16)
    with pytest.raises(RuntimeError, match="inference-only"):
        q(torch.randn(2, 16, requires_grad=True))
    with pytest.raises(TypeError, match="nn.Linear"):
        Int8Linear.from_float(nn.Conv2d(1, 1, 1))
    bad = nn.Linear(4, 4)
    with torch.no_grad():
        bad.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        Int8Linear.from_float(bad)


def test_zero_weight_rows():
    lin = nn.Linear(8, 4)
    with torch.no_grad():
        lin.weight.zero_()
    q = Int8Linear.from_float(lin)
    x = torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(q(x), lin(x))


def test_concurrent_threads_identical_results():
    import threading

    q = Int8Linear.from_float(nn.Linear(256, 512))
    x = torch.randn(64, 256)
    with torch.no_grad():
        want = q(x)
    results, errors = [None] * 4, []

    def run(i):
        try:
            with torch.no_grad():
                for _ in range(20):
                    results[i] = q(x)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        assert torch.equal(r, want)


def test_deepcopy_and_pickle_repack():
    import copy
    import pickle

    q = Int8Linear.from_float(nn.Linear(8, 4))
    x = torch.randn(2, 8)
    with torch.no_grad():
        want = q(x)
        assert torch.equal(copy.deepcopy(q)(x), want)
        assert torch.equal(pickle.loads(pickle.dumps(q))(x), want)


def test_torch_compile_captures_dropins_without_graph_breaks():
    from nnslim.nn import Int4Linear, Int8Conv2d, SparseConv2d, SparseLinear
    from nnslim.nn._torch_ops import HAVE_CUSTOM_OP

    if not HAVE_CUSTOM_OP:
        pytest.skip("torch.library.custom_op needs torch >= 2.4")
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                      nn.Flatten(), nn.Linear(8 * 3 * 3, 128), nn.ReLU(), nn.Linear(128, 64),
                      nn.ReLU(), nn.Linear(64, 10))
    with torch.no_grad():
        m[2].weight[torch.rand_like(m[2].weight) < 0.8] = 0
        m[6].weight[torch.rand_like(m[6].weight) < 0.8] = 0
    m[0] = Int8Conv2d.from_float(m[0], input_qparams=(0.02, 0))
    m[2] = SparseConv2d.from_dense(m[2])
    m[4] = Int8Linear.from_float(m[4])
    m[6] = SparseLinear.from_dense(m[6])
    m[8] = Int4Linear.from_float(m[8], nnslim.quantization.Int4WeightConfig(group_size=32))
    x = torch.randn(3, 3, 6, 6)
    with torch.no_grad():
        want = m(x)
        explanation = torch._dynamo.explain(m)(x)
        assert explanation.graph_break_count == 0
        torch._dynamo.reset()
        got = torch.compile(m, backend="eager")(x)
        torch._dynamo.reset()
        got_inductor = torch.compile(m)(x)
    assert torch.equal(got, want)
    torch.testing.assert_close(got_inductor, want)


@pytest.mark.parametrize("kwargs,shape", [
    (dict(kernel_size=3, stride=2, padding=1), (2, 4, 9, 7)),
    (dict(kernel_size=(3, 1), padding="same", dilation=(2, 1)), (1, 4, 8, 8)),
    (dict(kernel_size=3, padding="valid", padding_mode="zeros"), (4, 9, 9)),
    (dict(kernel_size=3, padding=2, padding_mode="reflect", stride=(1, 2)), (1, 4, 6, 7)),
])
def test_fake_outputs_match_real_shapes_and_strides(kwargs, shape):
    """What torch.compile plans with (the fake kernel) must match what the kernels return."""
    from nnslim.nn import Int8Conv2d, SparseConv2d

    conv = nn.Conv2d(4, 6, **kwargs)
    x = torch.randn(*shape)
    sparse = SparseConv2d.from_dense(conv)
    with torch.no_grad():
        real, fake = sparse._forward_impl(x), sparse._fake_output(x)
        assert real.shape == fake.shape and real.stride() == fake.stride()
        if conv.padding_mode == "zeros" and not isinstance(conv.padding, str) and x.dim() == 4:
            q = Int8Conv2d.from_float(conv, input_qparams=(0.05, 0))
            real, fake = q._forward_impl(x), q._fake_output(x)
            assert real.shape == fake.shape and real.stride() == fake.stride()


def test_row_dispatch_choice_without_amx_hardware():
    from nnslim.nn._row_dispatch import kernel_for_rows

    # the crossover measured on an AMX Xeon (nnslim/nn/_row_dispatch.py): VNNI up to 3 rows
    assert [kernel_for_rows("amx", m) for m in (1, 2, 3, 4, 16, 512)] == ["avx512_vnni"] * 3 + ["amx"] * 3
    assert kernel_for_rows("avx512_vnni", 1) == "avx512_vnni" and kernel_for_rows("avx2", 1) == "avx2"


def test_row_dispatch_packs_a_second_copy_and_keeps_results(monkeypatch):
    import copy
    import pickle
    """The mechanism AMX machines use for few rows, exercised with a path this machine has."""
    from nnslim.nn import _row_dispatch

    torch.manual_seed(0)
    lin = nn.Linear(64, 48)
    q = Int8Linear.from_float(lin)
    x_small, x_big = torch.randn(4, 64), torch.randn(40, 64)
    with torch.no_grad():
        want_small, want_big = q(x_small), q(x_big)
    main = q.pack().isa
    monkeypatch.setitem(_row_dispatch.SMALL_ROWS_KERNEL, main, ("scalar", 16))
    with torch.no_grad():
        got_small, got_big = q(x_small), q(x_big)
    assert q._packed_small is not None and q._packed_small.isa == "scalar"
    assert torch.equal(got_small, want_small) and torch.equal(got_big, want_big)
    assert torch.equal(copy.deepcopy(q)(x_small), want_small)
    assert torch.equal(pickle.loads(pickle.dumps(q))(x_small), want_small)


def test_bound_call_arguments_follow_buffer_changes():
    """The per-call argument cache (Int8LinearCommon._native_call) sees in-place edits, replaced
    buffers and new static qparams, and is not carried into copies."""
    import copy

    torch.manual_seed(0)
    q = Int8Linear.from_float(nn.Linear(32, 8))
    x = torch.randn(3, 32)
    with torch.no_grad():
        y0 = q(x)
        q.bias.add_(1.0)
        assert torch.allclose(q(x), y0 + 1, atol=1e-5)
        q.weight_scale.mul_(2.0)
        b1 = q.bias.clone()
        y2 = q(x)
        assert torch.allclose(y2 - b1, 2 * (y0 - (b1 - 1)), atol=1e-4)
        q.bias = torch.zeros(8)
        assert torch.allclose(q(x), y2 - b1, atol=1e-5)
        c = copy.deepcopy(q)
        assert "_native_call_cache" not in c.__dict__
        q.bias.add_(5.0)
        assert torch.allclose(q(x), c(x) + 5, atol=1e-5)
    s = Int8Linear.from_float(nn.Linear(32, 8), input_qparams=(0.05, 0))
    with torch.no_grad():
        a = s(x)
        s.set_input_qparams(0.1, 3)
        assert not torch.equal(s(x), a)


def test_conv_gemm_kernel_choice_without_amx_hardware():
    from nnslim.nn._row_dispatch import conv_gemm_kernel

    assert conv_gemm_kernel("amx", 16, 96) == "avx512_vnni"    # MobileNet expand 1x1: K padded 4x on AMX
    assert conv_gemm_kernel("amx", 144, 24) == "avx512_vnni"   # narrow projection
    assert conv_gemm_kernel("amx", 576, 64) == "amx" and conv_gemm_kernel("amx", 64, 384) == "amx"
    assert conv_gemm_kernel("avx2", 16, 96) == "avx2" and conv_gemm_kernel("avx512_vnni", 576, 64) == "avx512_vnni"


def test_bound_call_arguments_follow_storage_swaps_relu_and_inference_tensors():
    torch.manual_seed(0)
    x = torch.randn(3, 32)
    q = Int8Linear.from_float(nn.Linear(32, 8))
    with torch.no_grad():
        y0 = q(x)
        q.bias.data = q.bias.data + 2.0  # same tensor object, new storage
        assert torch.allclose(q(x), y0 + 2, atol=1e-5)
        q.relu = True
        assert torch.allclose(q(x), torch.relu(y0 + 2), atol=1e-5) and (q(x) >= 0).all()
    with torch.inference_mode():  # buffers made here are inference tensors (no version counter)
        s = Int8Linear.from_float(nn.Linear(32, 8), input_qparams=(0.05, 0))
        a = s(x)
        s.input_scale.fill_(0.1)
        s._packed = None  # in-place qparams need a repack for the folded bias, as set_input_qparams does
        assert not torch.equal(s(x), a)
