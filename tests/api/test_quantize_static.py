"""nnslim.quantize(model, "int8_static", calibration_data=...)."""
import copy

import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim.nn import Int8Conv2d, Int8Linear
from nnslim.quantization.fuse import fold_batchnorm
from nnslim.quantization.observers import OBSERVERS, make_observer, qparams_from_range


def _cnn():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3),
                      nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    m[1].running_mean.uniform_(-0.5, 0.5)
    m[1].running_var.uniform_(0.5, 2)
    return m.eval()


def test_bn_folding_is_exact():
    m = _cnn()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ref = m(x)
        fold_batchnorm(m)
        torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)
    assert isinstance(m[1], nn.Identity)


@pytest.mark.parametrize("observer", sorted(OBSERVERS))
def test_static_quantize_cnn(observer):
    m = _cnn()
    data = [torch.randn(4, 3, 8, 8) for _ in range(4)]
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        ref = m(x)
    q = nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(observer=observer, progress=False),
                        calibration_data=data)
    assert isinstance(q[0], Int8Conv2d) and q[0].relu and isinstance(q[2], nn.Identity)
    assert isinstance(q[6], Int8Linear) and q[6].static
    with torch.no_grad():
        y = q(x)
    # KL (entropy) calibration clips Gaussian-like inputs hard by design, so it gets a looser bound.
    assert ((y - ref).norm() / ref.norm()) < (0.2 if observer == "entropy" else 0.1)


def test_calibration_batches_as_tuples_and_bad_data():
    m = _cnn()
    data = [(torch.randn(2, 3, 8, 8), torch.zeros(2)) for _ in range(2)]
    nnslim.quantize(copy.deepcopy(m), "int8_static", calibration_data=data)
    with pytest.raises(ValueError, match="no batches"):
        nnslim.quantize(copy.deepcopy(m), "int8_static", calibration_data=[])
    with pytest.raises(ValueError, match="needs calibration"):
        nnslim.quantize(copy.deepcopy(m), "int8_static")
    with pytest.raises(ValueError, match="could not run through"):
        nnslim.quantize(copy.deepcopy(m), "int8_static", calibration_data=[torch.randn(2, 5, 8, 8)])
    with pytest.raises(TypeError, match="each batch"):
        nnslim.quantize(copy.deepcopy(m), "int8_static", calibration_data=["x"])
    with pytest.raises(ValueError, match="observer"):
        nnslim.Int8StaticConfig(observer="magic")


class _KeywordModel(nn.Module):
    """Called with keyword inputs as Hugging Face models are (model(**tokenizer_output)); the mask's
    data-dependent branch keeps torch.fx from tracing it, as in most HF forwards."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, input_ids, attention_mask=None):
        h = self.embed(input_ids)
        if attention_mask is not None and bool((attention_mask == 0).any()):
            h = h * attention_mask.unsqueeze(-1)
        return self.fc2(torch.relu(self.fc1(h))).mean(1)


def _keyword_batches(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [{"input_ids": torch.randint(0, 50, (2, 7), generator=g),
             "attention_mask": torch.ones(2, 7, dtype=torch.long)} for _ in range(n)]


def test_calibration_batches_as_keyword_mappings():
    torch.manual_seed(0)
    m = _KeywordModel().eval()
    with pytest.warns(UserWarning, match="mappings of keyword inputs.*module-by-module"):
        q = nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False),
                            calibration_data=_keyword_batches(3))
    assert isinstance(q.fc1, Int8Linear) and q.fc1.static and isinstance(q.fc2, Int8Linear)
    x = _keyword_batches(1, seed=9)[0]
    with torch.no_grad():
        ref, y = m(**x), q(**x)
    assert ((y - ref).norm() / ref.norm()) < 0.05
    bad = [{"input_ids": torch.randint(0, 50, (2, 7)), "attention_mask": torch.zeros(3, 5)}]
    with pytest.raises(ValueError, match=r"batch 0 \{input_ids: \(2, 7\), attention_mask: \(3, 5\)\} could not run"):
        nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False), calibration_data=bad)
    with pytest.raises(ValueError, match="batch 0 .* could not run through the model"):  # a keyword it lacks
        nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False),
                        calibration_data=[{**x, "labels": torch.zeros(2)}])
    one = nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False), calibration_data=x)
    assert isinstance(one.fc1, Int8Linear) and one.fc1.static  # a lone mapping is one batch
    with pytest.raises(TypeError, match="map input names"):
        nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False), calibration_data=[{0: x["input_ids"]}])


@pytest.mark.filterwarnings("ignore:nnslim.quantize.*falling back")
def test_calibration_from_a_generator_survives_the_graph_fallback():
    # The graph attempt reads the batches first; its fallback must calibrate on the same ones, not
    # on an exhausted generator. Both conversions see the same data, so they agree.
    torch.manual_seed(0)
    m = _KeywordModel().eval()
    listed = nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False),
                             calibration_data=_keyword_batches(3))
    streamed = nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False),
                               calibration_data=(b for b in _keyword_batches(3)))
    assert streamed.fc1.input_scale == listed.fc1.input_scale
    few = nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False, num_batches=1),
                          calibration_data=(b for b in _keyword_batches(3)))
    one = nnslim.quantize(copy.deepcopy(m), nnslim.Int8StaticConfig(progress=False),
                          calibration_data=_keyword_batches(1))
    assert few.fc1.input_scale == one.fc1.input_scale
    # A traceable model from a generator: the graph path, calibrated on every batch.
    cnn = _cnn()
    data = [torch.randn(2, 3, 8, 8) for _ in range(3)]
    a = nnslim.quantize(copy.deepcopy(cnn), nnslim.Int8StaticConfig(progress=False), calibration_data=data)
    b = nnslim.quantize(copy.deepcopy(cnn), nnslim.Int8StaticConfig(progress=False), calibration_data=iter(data))
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_observers_basic_ranges():
    x = torch.cat([torch.linspace(-1, 1, 10001), torch.tensor([50.0])])
    mm = make_observer("minmax")
    mm.update(x)
    assert mm.range() == (-1.0, 50.0)
    pc = make_observer("percentile", percentile=99.9)
    pc.update(x)
    assert pc.range()[1] < 5  # the outlier is clipped
    scale, zp = qparams_from_range(0.0, 2.55, symmetric=False)
    assert abs(scale - 0.01) < 1e-12 and zp == -128
    assert qparams_from_range(-1.27, 1.0, symmetric=True)[1] == 0
