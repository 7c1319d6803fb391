"""SparseConv2d as a drop-in for a pruned nn.Conv2d (groups=1)."""
import io

import pytest
import torch
import torch.nn as nn

from nnslim.nn import SparseConv2d
from nnslim.pruning.masks import apply_mask


def _rel_err(y, ref):
    return ((y - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def _sparse_conv(*args, density=0.2, seed=0, **kwargs):
    torch.manual_seed(seed)
    conv = nn.Conv2d(*args, **kwargs)
    with torch.no_grad():
        conv.weight.mul_((torch.rand_like(conv.weight) < density).float())
    return conv


CONVS = [
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 5), stride=(2, 1), padding=(0, 2), dilation=(1, 2)),
    dict(in_channels=8, out_channels=5, kernel_size=1),
    dict(in_channels=8, out_channels=5, kernel_size=1, stride=2, bias=False),
    dict(in_channels=3, out_channels=4, kernel_size=4, padding="same", dilation=2),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding="valid"),
    dict(in_channels=3, out_channels=4, kernel_size=(2, 4), padding="same"),  # odd total: extra at bottom/right
    dict(in_channels=3, out_channels=4, kernel_size=(2, 4), padding="same", padding_mode="reflect"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="reflect"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=2, padding_mode="circular"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="replicate", stride=2),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's own note on its dense reference
@pytest.mark.parametrize("kwargs", CONVS, ids=[str(i) for i in range(len(CONVS))])
def test_matches_conv2d(isa, force_isa, kwargs):
    force_isa(isa)
    conv = _sparse_conv(**kwargs)
    s = SparseConv2d.from_dense(conv)
    assert f"kernel={isa}" in repr(s) and "sparsity=" in repr(s)
    x = torch.randn(2, conv.in_channels, 11, 13)
    with torch.no_grad():
        y, ref = s(x), conv(x)
        assert y.shape == ref.shape and y.dtype == torch.float32
        assert _rel_err(y, ref) < 1e-4
        assert _rel_err(s(x[0]), conv(x[0])) < 1e-4  # unbatched CHW


def test_pruned_conv_and_channels_last_input():
    conv = nn.Conv2d(6, 8, 3, padding=1)
    mask = (torch.rand_like(conv.weight) < 0.1).float()
    apply_mask(conv, mask)
    s = SparseConv2d.from_dense(conv)
    assert s.nnz == int(mask.sum())
    x = torch.randn(3, 6, 9, 9).to(memory_format=torch.channels_last)
    with torch.no_grad():
        assert _rel_err(s(x), conv(x)) < 1e-5
        assert s(x.half()).dtype == torch.float16


def test_groups_are_refused():
    with pytest.raises(ValueError, match="groups=4 .* only groups=1"):
        SparseConv2d.from_dense(nn.Conv2d(4, 4, 3, groups=4))
    with pytest.raises(ValueError, match="groups=1 only"):
        SparseConv2d(4, 4, 3, groups=2)
    with pytest.raises(TypeError, match="expects an nn.Conv2d"):
        SparseConv2d.from_dense(nn.Linear(3, 3))


def test_state_dict_round_trip():
    s = SparseConv2d.from_dense(_sparse_conv(5, 7, 3, stride=2, padding=1))
    buf = io.BytesIO()
    torch.save(s.state_dict(), buf)
    buf.seek(0)
    s2 = SparseConv2d(5, 7, 3, stride=2, padding=1)
    s2.load_state_dict(torch.load(buf))
    x = torch.randn(2, 5, 12, 12)
    with torch.no_grad():
        assert torch.equal(s(x), s2(x))
    assert set(s.state_dict()) == {"indptr", "indices", "values", "bias"}


def test_all_zero_layer_and_bad_inputs():
    conv = nn.Conv2d(3, 2, 3)
    with torch.no_grad():
        conv.weight.zero_()
    s = SparseConv2d.from_dense(conv)
    x = torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        assert torch.equal(s(x), conv(x))
        with pytest.raises(ValueError, match="size 3 in dimension -3"):
            s(torch.randn(1, 4, 5, 5))
        with pytest.raises(ValueError, match="4-D NCHW"):
            s(torch.randn(5, 5))
        with pytest.raises(ValueError, match="smaller than the dilated kernel"):
            s(torch.randn(1, 3, 2, 2))
    with pytest.raises(RuntimeError, match="inference-only"):
        s(torch.randn(1, 3, 5, 5, requires_grad=True))

