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
    with pytest.raises(TypeError, match="2 inputs"):
        gm(x)
    gm.recompile()  # after a graph edit: the generated code again
    assert type(gm).forward is not type(gm)._nnslim_fx_forward.__class__
    assert "_lowered_forward" not in type(gm).forward.__qualname__
    assert torch.equal(gm(x, y)["out"], ref(x, y)["out"])


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
