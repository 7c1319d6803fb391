"""Block patterns "RxC": whole blocks of R output rows x C inputs go, ragged edges included, ranked by
their mean score, under either scope and through a schedule."""
import pytest
import torch
import torch.nn as nn
from hypothesis import given
from hypothesis import strategies as st

from pruning_helpers import SMALL, batches
from nnslim.pruning import PruneConfig, Pruner, get_mask, prune, schedules
from nnslim.pruning.blocks import block_density, block_scores, parse_block


def _blocks(mask2d, r, c):
    rows, cols = mask2d.shape
    padded = torch.nn.functional.pad(mask2d, (0, (-cols) % c, 0, (-rows) % r), value=-1)
    nr, nc = padded.shape[0] // r, padded.shape[1] // c
    return padded.reshape(nr, r, nc, c).permute(0, 2, 1, 3).reshape(nr, nc, r * c)


@SMALL
@given(r=st.sampled_from([1, 2, 4, 8, 16]), c=st.sampled_from([1, 2, 4]), out=st.integers(1, 37),
       inp=st.integers(1, 23), conv=st.booleans(), frac=st.sampled_from([0.3, 0.5, 0.9]), seed=st.integers(0, 99))
def test_masks_are_whole_blocks_and_the_lowest_blocks_go(r, c, out, inp, conv, frac, seed):
    if r * c < 2:
        return
    torch.manual_seed(seed)
    layer = nn.Conv2d(inp, out, 3) if conv else nn.Linear(inp, out)
    w = layer.weight.detach().clone()
    prune(nn.Sequential(layer), PruneConfig(sparsity=frac, pattern=f"{r}x{c}", scope="layer"))
    mask = get_mask(layer).reshape(out, -1)
    blocks = _blocks(mask, r, c)
    real = blocks >= 0
    # every block is all kept or all pruned (the -1 padding is not part of any block)
    kept = (blocks == 1).sum(-1)
    assert ((kept == 0) | (kept == real.sum(-1))).all()
    scores = block_scores(w, r, c)
    alive = kept > 0
    n = alive.numel()
    assert (~alive).sum() == round(frac * n)
    if alive.any() and (~alive).any():
        assert scores[alive].min() >= scores[~alive].max()


def test_block_scores_use_the_mean_so_ragged_edges_compete_fairly():
    w = torch.ones(5, 3)  # 4x1 blocks: rows 0-3 full, row 4 a 1-row edge block with the same mean
    s = block_scores(w, 4, 1)
    assert s.shape == (2, 3) and torch.allclose(s, torch.ones(2, 3))
    assert torch.allclose(block_scores(w * 2, 4, 1, "l2"), torch.full((2, 3), 2.0))


def test_global_scope_schedule_and_taylor():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    pruner = Pruner(model, PruneConfig(sparsity=0.75, pattern="4x1"),
                    schedules.Polynomial(end_step=4, frequency=2))
    for _ in range(5):
        pruner.step()
    total = sum(get_mask(m).numel() for m in (model[0], model[2]))
    zeros = sum((get_mask(m) == 0).sum().item() for m in (model[0], model[2]))
    assert zeros == pytest.approx(0.75 * total, abs=8)
    assert block_density(model[0].weight, 4, 1) == pytest.approx(1 - (get_mask(model[0]) == 0).float().mean().item())
    m2 = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    prune(m2, PruneConfig(sparsity=0.5, pattern="1x4", method="taylor"), data=batches())
    assert (get_mask(m2[0]).reshape(16, 2, 4).sum(-1) % 4 == 0).all()


@pytest.mark.parametrize("pattern,match", [("0x4", "RxC"), ("1x1", "more than one"), ("4x", "pattern"),
                                           ("300x1", "256")])
def test_bad_block_patterns(pattern, match):
    with pytest.raises(ValueError, match=match):
        PruneConfig(sparsity=0.5, pattern=pattern)


def test_parse_block():
    assert parse_block("16x1") == (16, 1) and parse_block("2:4") is None and parse_block("channel") is None
