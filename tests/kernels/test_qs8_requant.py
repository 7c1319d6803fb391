"""qs8 block finishing (kernels/qs8-requant): post-op (residual add, activation) and requantization of
an int8 node's fp32 output block. Every ISA path equals the scalar kernel bit for bit, including
NaN, +-Inf, -0.0, ties at .5, saturation, odd column counts and column sub-ranges; the scalar kernel
equals the composition it replaced (postop, then the static row quantizer value by value)."""
import numpy as np
import pytest

from nnslim._native import C

ACTS = [("none", 0, 0), ("relu", 0, 0), ("clamp", 0.0, 6.0), ("clamp", -1.0, 1.0), ("hardswish", 0, 0),
        ("hardsigmoid", 0, 0)]


def _block(rng, shape):
    y = (rng.standard_normal(shape) * 4).astype(np.float32)
    flat = y.reshape(-1)
    idx = rng.choice(flat.size, size=max(1, flat.size // 10), replace=False)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 0.25, -0.25, 0.75, 3.4e38, -3.4e38, 6.0, -3.0],
                        np.float32)
    flat[idx] = specials[rng.integers(0, specials.size, idx.size)]
    return y


def _same(a, b):
    if a.dtype == np.float32:  # bitwise: NaN and -0.0 count
        return np.array_equal(a.view(np.int32), b.view(np.int32))
    return np.array_equal(a, b)


@pytest.mark.parametrize("act,lo,hi", ACTS)
@pytest.mark.parametrize("residual", [None, "f32", "int8"])
@pytest.mark.parametrize("out", [None, (0.05, 0), (0.3, -7), (1e-3, 127), (1e36, 5)])
@pytest.mark.parametrize("cols", [1, 7, 8, 16, 17, 33, 96])
def test_finish_block_matches_scalar(isa, act, lo, hi, residual, out, cols):
    rng = np.random.default_rng(cols * 31 + len(act))
    y = _block(rng, (2, 3, 5, cols))
    kw = dict(activation=act, act_lo=lo, act_hi=hi)
    if residual == "f32":
        kw["residual"] = _block(rng, y.shape)
    elif residual == "int8":
        kw.update(residual=rng.integers(-128, 128, y.shape, dtype=np.int8), residual_scale=0.07,
                  residual_zero_point=-3)
    if out is not None:
        kw.update(output_scale=out[0], output_zero_point=out[1])
    want = C.qs8_finish_block(y, "scalar", **kw)
    got = C.qs8_finish_block(y, isa, **kw)
    assert _same(got, want)


@pytest.mark.parametrize("col0,cols", [(0, 5), (3, 16), (5, 27), (17, 23)])
def test_finish_block_column_ranges(isa, col0, cols):
    """Column sub-ranges (the conv driver's channel splits) touch only their columns."""
    rng = np.random.default_rng(col0)
    y = _block(rng, (1, 4, 3, 40))
    res = rng.integers(-128, 128, y.shape, dtype=np.int8)
    for out in (None, 0.1):
        kw = dict(activation="hardswish", residual=res, residual_scale=0.1, residual_zero_point=5, output_scale=out)
        want = C.qs8_finish_block(y, "scalar", col0=col0, cols=cols, **kw)
        got = C.qs8_finish_block(y, isa, col0=col0, cols=cols, **kw)
        assert _same(got, want)
        outside = np.ones(40, bool)
        outside[col0:col0 + cols] = False
        if out is None:
            assert _same(got[..., outside], y[..., outside])
        else:
            assert not got[..., outside].any()


def test_scalar_is_postop_then_static_quantizer():
    """The definition: NaN -> zero point, +-Inf saturate, otherwise the static quantizer's rounding."""
    y = np.array([np.nan, np.inf, -np.inf, 0.5, 1.5, -0.5, -2.5, 12.7, -12.9, 1000.0, -0.0, 0.04],
                 np.float32).reshape(1, 1, 1, -1)
    q = C.qs8_finish_block(y, "scalar", output_scale=0.1, output_zero_point=3)
    ref = C.qs8_quantize_rows_static(np.nan_to_num(y.reshape(1, -1), nan=0.0, posinf=3.4028235e38,
                                                   neginf=-3.4028235e38), 0.1, 3, reference=True)
    ref_q = ref[0] if isinstance(ref, tuple) else ref
    assert np.array_equal(q.reshape(-1), np.asarray(ref_q).reshape(-1))
    assert q.reshape(-1)[0] == 3 and q.reshape(-1)[1] == 127 and q.reshape(-1)[2] == -128
    relu = C.qs8_finish_block(y, "scalar", activation="relu")
    assert np.isnan(relu.reshape(-1)[0]) and np.signbit(relu.reshape(-1)[10])


def test_finish_block_bad_arguments():
    y = np.zeros((1, 1, 2, 8), np.float32)
    with pytest.raises(ValueError, match="col0"):
        C.qs8_finish_block(y, col0=4, cols=8)
    with pytest.raises(ValueError, match="activation"):
        C.qs8_finish_block(y, activation="gelu")
    with pytest.raises(ValueError, match="residual"):
        C.qs8_finish_block(y, residual=np.zeros((1, 1, 2, 7), np.float32))
    with pytest.raises(ValueError, match="output_scale"):
        C.qs8_finish_block(y, output_scale=-1.0)
    with pytest.raises(ValueError, match="output_zero_point"):
        C.qs8_finish_block(y, output_scale=1.0, output_zero_point=200)
