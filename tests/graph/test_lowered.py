"""lower(): a GraphModule run from the flat plan gives exactly its generated code's results (nested
arguments, methods, attributes, keyword arguments, several outputs), honours hooks, always runs the
submodule registered now, hands torch.compile / keyword calls / recompile() back to the generated
code, and rejects a wrong input count."""
import pytest
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from nnslim.graph.lowered import lower


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8, 5)
        self.register_buffer("offset", torch.tensor(0.5))

    def forward(self, x, y):
        a = self.body(x)
        b = torch.cat([a, a * 2], dim=1)  # a nested argument
        c = F.adaptive_avg_pool2d(b, 1).flatten(1).add(self.offset)  # methods, an attribute
        return {"out": self.head(c), "aux": (a.sum(), y + 1)}


def _pair():
    torch.manual_seed(0)
    m = Net().eval()
    gm = fx.symbolic_trace(m)
    ref = fx.symbolic_trace(m)
    return lower(gm), ref


def test_plan_equals_generated_code():
    gm, ref = _pair()
    assert type(gm).forward is not type(ref).forward
    x, y = torch.randn(2, 3, 6, 6), torch.randn(3)
    got, want = gm(x, y), ref(x, y)
    assert torch.equal(got["out"], want["out"]) and torch.equal(got["aux"][0], want["aux"][0])
    assert torch.equal(got["aux"][1], want["aux"][1])


def test_hooks_and_swapped_submodules_are_honoured():
    gm, ref = _pair()
    x, y = torch.randn(1, 3, 6, 6), torch.randn(3)
    seen = []

    def hook(mod, args, out):
        seen.append(tuple(out.shape))
        return out * 0

    h = gm.head.register_forward_hook(hook)
    assert gm(x, y)["out"].abs().sum() == 0 and seen == [(1, 5)]
    h.remove()
    gm.head = nn.Linear(8, 5)  # a new module: the plan must run it, not the one it was built with
    ref.head = gm.head
    assert torch.equal(gm(x, y)["out"], ref(x, y)["out"])
    setattr(gm.body, "1", nn.Tanh())  # deeper in the tree too
    setattr(ref.body, "1", getattr(gm.body, "1"))
    assert torch.equal(gm(x, y)["out"], ref(x, y)["out"])


def test_fallbacks_and_bad_input():
    gm, ref = _pair()
    x, y = torch.randn(1, 3, 6, 6), torch.randn(3)
    assert torch.equal(gm(x, y=y)["out"], ref(x, y)["out"])  # keywords: the generated code
    with pytest.raises(TypeError, match=r"2 inputs \(x, y\), got 1; missing y"):
        gm(x)
    with pytest.raises(TypeError, match="2 inputs"):
        gm(x, y, y)
    gm.recompile()  # after a graph edit: the generated code again
    assert type(gm).forward is not type(gm)._nnslim_fx_forward.__class__
    assert "_lowered_forward" not in type(gm).forward.__qualname__
    assert torch.equal(gm(x, y)["out"], ref(x, y)["out"])


class WithDefaults(nn.Module):
    """timm's ViT: forward(x, attn_mask=None), traced with a placeholder per argument."""

    def forward(self, x, bias=1.0, scale=2.0):
        return x * scale + bias


def test_inputs_left_out_take_their_defaults():
    gm, ref = lower(fx.symbolic_trace(WithDefaults())), WithDefaults()
    x, bias = torch.randn(4), torch.randn(4)
    assert torch.equal(gm(x), ref(x))
    assert torch.equal(gm(x, bias), ref(x, bias))
    assert torch.equal(gm(x, bias, 3.0), ref(x, bias, 3.0))
    with pytest.raises(TypeError, match=r"3 inputs \(x, bias, scale\), got 0; missing x"):
        gm()


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large"])
def test_int8_hand_offs_equal_the_generated_code(name):
    # Between nnslim's int8 nodes the plan passes the kernels' numpy arrays (each module's
    # _int8_call): the result must be the generated code's bit for bit, with hooks (which see
    # tensors) and with a swapped-in module that has no _int8_call.
    import nnslim
    from nnslim import models
    from nnslim.nn import Int8Conv2d

    torch.manual_seed(0)
    m = models.randomize_batchnorm(getattr(models, name)(num_classes=10)).eval()
    cal = [torch.randn(1, 3, 64, 64) for _ in range(2)]
    q = nnslim.quantize(m, nnslim.Int8StaticConfig(progress=False), calibration_data=cal)
    x = torch.randn(2, 3, 64, 64)
    generated = type(q)._nnslim_fx_forward
    with torch.no_grad():
        q(x)  # packs every module
        want = generated(q, x)
        assert torch.equal(q(x), want)
        convs = [(n, c) for n, c in q.named_modules() if isinstance(c, Int8Conv2d) and c.int8_output]
        seen = []
        h = convs[3][1].register_forward_hook(lambda mod, args, out: seen.append((type(args[0]), type(out))))
        assert torch.equal(q(x), want)
        assert seen == [(torch.Tensor, torch.Tensor)]
        h.remove()
        # A conv swapped for a wrapper without _int8_call: its int8 input arrives as a tensor.
        name0, conv = convs[2]

        class Wrapped(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, *args):
                assert all(type(a) is torch.Tensor for a in args)
                return self.inner(*args)

        parent, _, leaf = name0.rpartition(".")
        setattr(q.get_submodule(parent) if parent else q, leaf, Wrapped(conv))
        assert torch.equal(q(x), want)


def _int8_model(name):
    import nnslim
    from nnslim import models

    torch.manual_seed(0)
    m = models.randomize_batchnorm(getattr(models, name)(num_classes=10)).eval()
    cal = [torch.randn(1, 3, 64, 64) for _ in range(2)]
    return nnslim.quantize(m, nnslim.Int8StaticConfig(progress=False), calibration_data=cal)


def _fused_calls(q, x, name):
    """q(x) with lowered's `name` (the fused step's call) spied on: (whether each call took the fused
    path, the output)."""
    from unittest import mock

    from nnslim.graph import lowered

    real, calls = getattr(lowered, name), []

    def spy(*args):
        y = real(*args)
        calls.append(y is not NotImplemented)
        return y

    with mock.patch.object(lowered, name, spy):
        return calls, q(x)


def test_squeeze_excite_blocks_run_as_one_step_with_the_same_result():
    # MobileNetV3's eight SE blocks (pool -> fc1 -> fc2 -> multiply) are one plan step each, run in one
    # kernel call (nnslim.nn.squeeze_excite): bit-equal to the generated code's four module calls.
    from nnslim.graph import lowered

    q = _int8_model("mobilenet_v3_large")
    plan = type(q)._nnslim_plan
    fused = [s for s in plan.steps if s[0] == lowered._SQUEEZE_EXCITE]
    assert len(fused) == 8
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        q(x)  # packs every module
        want = type(q)._nnslim_fx_forward(q, x)
        calls, got = _fused_calls(q, x, "squeeze_excite_int8_call")
        assert calls == [True] * 8  # every block took the fused call
        assert torch.equal(got, want)


def test_squeeze_excite_step_falls_back_for_hooks_and_swapped_modules():
    q = _int8_model("mobilenet_v3_large")
    x = torch.randn(1, 3, 64, 64)
    generated = type(q)._nnslim_fx_forward
    with torch.no_grad():
        q(x)
        want = generated(q, x)
        se = q.get_submodule("features.4.block.2")
        seen = []
        h = se.fc2.register_forward_hook(lambda mod, args, out: seen.append(tuple(out.shape)))
        assert torch.equal(q(x), want)  # the hook forces the block's four modules one by one
        assert seen == [(1, 72, 1, 1)]
        h.remove()
        # fc1 swapped for a float conv: its block runs module by module, the others stay fused.
        fc1 = nn.Conv2d(se.fc1.in_channels, se.fc1.out_channels, 1)
        se.fc1 = fc1
        assert torch.equal(q(x), generated(q, x))


def test_squeeze_excite_binding_rejects_bad_plans():
    from nnslim import _native

    q = _int8_model("mobilenet_v3_large")
    with torch.no_grad():
        q(torch.randn(1, 3, 64, 64))
    se = q.get_submodule("features.4.block.2")
    C = _native.C
    x = torch.zeros(1, 8, 8, 72, dtype=torch.int8).numpy()
    fc1, fc2 = se.fc1._packed_run, se.fc2._packed_run
    with pytest.raises(ValueError, match="fc2: expected a plan with a float output"):
        C.qs8_squeeze_excite_nhwc(x, 0.1, 0, fc1, fc1, 0.1, 0, 0.1, 0)
    with pytest.raises(ValueError, match="in_features"):  # fc1 over the wrong channel count
        C.qs8_squeeze_excite_nhwc(x[..., :40].copy(), 0.1, 0, fc1, fc2, 0.1, 0, 0.1, 0)
    with pytest.raises(ValueError, match="zero_point"):
        C.qs8_squeeze_excite_nhwc(x, 0.1, 300, fc1, fc2, 0.1, 0, 0.1, 0)
    y = C.qs8_squeeze_excite_nhwc(x, 0.1, 0, fc1, fc2, 0.1, 0, 0.1, 0)
    assert y.shape == x.shape and y.dtype == x.dtype


def test_conv_runs_are_one_step_with_the_same_result():
    # MobileNetV2's convs (inverted residuals: expand -> depthwise -> project + input) are one plan
    # step, run by one qs8_conv_chain call: bit-equal to the generated code's module calls, with hooks
    # (the convs one by one, the hook sees its call) and after a conv is swapped for another module.
    from nnslim.graph import lowered

    q = _int8_model("mobilenet_v2")
    plan = type(q)._nnslim_plan
    chains = [s for s in plan.steps if s[0] == lowered._CONV_CHAIN]
    assert chains and sum(len(s[5]) for s in chains) >= 50
    assert any(r >= 0 for s in chains for r in s[4])  # inverted residuals: an earlier conv's output added
    x = torch.randn(2, 3, 64, 64)
    generated = type(q)._nnslim_fx_forward
    with torch.no_grad():
        q(x)  # packs every module
        want = generated(q, x)
        calls, got = _fused_calls(q, x, "conv_chain_int8_call")
        assert calls and all(calls)
        assert torch.equal(got, want)
        conv = q.get_submodule("features.5.conv.1.0")
        seen = []
        h = conv.register_forward_hook(lambda mod, args, out: seen.append(tuple(out.shape)))
        assert torch.equal(q(x), want) and len(seen) == 1
        h.remove()
        parent = q.get_submodule("features.5.conv.1")
        setattr(parent, "0", nn.Identity())  # not a conv: its run goes module by module
        assert torch.equal(q(x), generated(q, x))


def test_conv_chain_binding_rejects_bad_arguments():
    from nnslim import _native

    q = _int8_model("mobilenet_v2")
    with torch.no_grad():
        q(torch.randn(1, 3, 64, 64))
    C = _native.C
    expand, dw = q.get_submodule("features.2.conv.0.0"), q.get_submodule("features.2.conv.1.0")
    x = torch.zeros(1, 16, 16, expand.in_channels, dtype=torch.int8).numpy()
    plans = [expand._packed_run, dw._packed_run]
    assert C.qs8_conv_chain(x, plans, [-2, -2]).shape == (1, 8, 8, dw.out_channels)
    with pytest.raises(ValueError, match="at least one"):
        C.qs8_conv_chain(x, [], [])
    with pytest.raises(ValueError, match="one entry per plan"):
        C.qs8_conv_chain(x, plans, [-2])
    with pytest.raises(ValueError, match=r"residual_from\[1\]"):
        C.qs8_conv_chain(x, plans, [-2, 1])
    with pytest.raises(TypeError, match=r"plans\[1\]: expected a Qs8Conv2dPlan"):
        C.qs8_conv_chain(x, [plans[0], "conv"], [-2, -2])
    with pytest.raises(ValueError, match="channels"):  # the depthwise plan on the input's channel count
        C.qs8_conv_chain(x, [dw._packed_run], [-2])
    project = q.get_submodule("features.3.conv.2")  # adds the block's input: residual -1 passes x
    y = torch.zeros(1, 8, 8, project.in_channels, dtype=torch.int8).numpy()
    with pytest.raises(ValueError, match="residual: expected the output's NHWC shape"):
        C.qs8_conv_chain(y, [project._packed_run], [-1])


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large"])
@pytest.mark.parametrize("how", ["pickle", "torch.save", "deepcopy"])
def test_copies_of_a_converted_model_run_lowered_and_keep_their_record(name, how, tmp_path):
    # pickle / torch.save re-trace the generated code (nnslim's entry and NaN guard must be recorded
    # as calls, not run on proxies); fx's reduce recompiles the original. Both the copy and the
    # original must still run from a plan, give the same result, report their nodes, and save.
    import copy
    import io
    import pickle

    import nnslim
    from nnslim import models
    from nnslim.graph.lowered import _lowered_forward

    q = _int8_model(name)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        want = q(x)
    if how == "pickle":
        c = pickle.loads(pickle.dumps(q))
    elif how == "torch.save":
        buf = io.BytesIO()
        torch.save(q, buf)
        buf.seek(0)
        c = torch.load(buf, weights_only=False)
    else:
        c = copy.deepcopy(q)
    assert type(q).forward is _lowered_forward and type(c).forward is _lowered_forward
    assert type(c)._nnslim_plan is not type(q)._nnslim_plan
    with torch.no_grad():
        assert torch.equal(c(x), want) and torch.equal(q(x), want)
    assert nnslim.graph_report(c) == nnslim.graph_report(q)
    nnslim.save(c, tmp_path / "copy.nns")
    torch.manual_seed(0)
    back = nnslim.load(tmp_path / "copy.nns", getattr(models, name)(num_classes=10).eval())
    with torch.no_grad():
        assert torch.equal(back(x), want)
