"""``model.half()`` / ``.to(torch.bfloat16)`` / ``.double()`` on a converted model: the drop-ins keep
their float buffers in float32 (the kernels read float32; Float32BuffersMixin in nn/_common.py), take
the new dtype's inputs and return that dtype, so a model cast for its float parts keeps running.
Int8Embedding (no kernel) casts its scales instead and returns their dtype, as nn.Embedding does."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim.nn import Int8MultiheadAttention

from test_weight_view import CASES  # noqa: E402  (tests/nn is on sys.path under pytest's rootdir)

DTYPES = [torch.float16, torch.bfloat16, torch.float64]


def _input_for(case):
    if case == "int8_embedding":
        return torch.randint(0, 30, (4, 3))
    if "conv" in case:
        return torch.randn(2, 8, 9, 9)
    return torch.randn(5, 64)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", sorted(CASES))
def test_drop_in_follows_the_model_dtype(case, dtype):
    _, q, _ = CASES[case]()
    x = _input_for(case)
    with torch.no_grad():
        want = q(x)
        cast = copy.deepcopy(q).to(dtype)
        # Int8Embedding's scales follow the cast (its output dtype, as nn.Embedding's, is its weight's).
        kept = dtype if case == "int8_embedding" else torch.float32
        assert all(b.dtype == kept for b in cast.buffers() if b.is_floating_point())
        y = cast(x if case == "int8_embedding" else x.to(dtype))
    assert y.dtype == dtype and y.shape == want.shape
    tol = 1e-2 if dtype != torch.float64 else 1e-6
    assert (y.double() - want.double()).abs().max() <= tol * (want.abs().max().double() + 1)


def test_quantized_encoder_runs_in_half():
    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True), 2,
                                enable_nested_tensor=False).eval()
    q = nnslim.quantize(copy.deepcopy(enc), "int8_dynamic")
    assert type(q.layers[0].self_attn) is Int8MultiheadAttention
    x = torch.randn(2, 6, 32)
    with torch.no_grad():
        want = q(x)
        y = copy.deepcopy(q).to(torch.bfloat16)(x.to(torch.bfloat16))
    assert y.dtype == torch.bfloat16
    assert F.cosine_similarity(y.float().flatten(), want.flatten(), 0) > 0.99


def test_graph_model_runs_after_half():
    from nnslim.models import resnet18

    torch.manual_seed(0)
    model = resnet18(num_classes=10).eval()
    q = nnslim.quantize(model, nnslim.Int8StaticConfig(progress=False),
                        calibration_data=[torch.randn(1, 3, 32, 32) for _ in range(2)])
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        want = q(x)
        y = copy.deepcopy(q).half()(x.half())
    # The int8 graph quantizes its input once and ends in float32 whatever the input's dtype.
    assert y.dtype == torch.float32
    assert F.cosine_similarity(y.flatten(), want.flatten(), 0) > 0.999
