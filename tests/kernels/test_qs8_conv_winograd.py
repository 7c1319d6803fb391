"""The integer Winograd F(2x2, 3x3) path of stride-1 3x3 int8 convs (kernels/qs8-winograd/): its int32
accumulators are the im2col GEMM's, so every output (fp32 or int8, residuals, activations, NaN images)
must equal the scalar im2col path bit for bit, on the scalar reference and the AVX2 kernels alike."""
import numpy as np
import pytest

from nnslim._native import C


def available_isas():
    return list(C.cpu_info()["available"])


WINOGRAD_ISAS = [i for i in ("scalar", "avx2") if i in available_isas()]


def _plan(isa, w, cin, cout, mode, zp=-3, padding=(1, 1), seed=5, **kw):
    rng = np.random.default_rng(seed)
    ws = (rng.random(cout) * 0.01 + 1e-3).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    return C.Qs8Conv2dPlan([C.PackedQs8Weights(w, isa)], (3, 3), (1, 1), padding, (1, 1), 1, 0.03, zp, ws, bias,
                           False, winograd=mode, **kw)


def _check(x, w, cin, cout, threads=2, residual=None, **kw):
    want = _plan("scalar", w, cin, cout, "never", **kw)(x, residual, threads)
    for isa in WINOGRAD_ISAS:
        plan = _plan(isa, w, cin, cout, "always", **kw)
        assert plan.uses_winograd(x)
        got = plan(x, residual, threads)
        np.testing.assert_array_equal(got, want, err_msg=f"{isa} {x.shape} -> {cout} {kw}")


# Odd and even maps (partial tiles on the right and bottom), channels below, at and past a 16-lane
# vector, odd counts (a pair-padded channel), partial panels of output channels, batch > 1.
@pytest.mark.parametrize("shape,cout", [((1, 7, 9, 21), 24), ((2, 5, 6, 16), 40), ((1, 1, 1, 3), 5),
                                         ((1, 8, 8, 64), 64), ((3, 9, 4, 33), 17), ((1, 2, 13, 48), 8),
                                         ((2, 14, 14, 32), 96)])
@pytest.mark.parametrize("out", ["f32", "s8"])
def test_winograd_equals_im2col(shape, cout, out):
    rng = np.random.default_rng(sum(shape) + cout)
    cin = shape[-1]
    w = rng.integers(-128, 128, (cout, 9 * cin), dtype=np.int8)
    x = rng.integers(-128, 128, shape, dtype=np.int8)
    kw = dict(output_scale=0.05, output_zero_point=3) if out == "s8" else {}
    _check(x, w, cin, cout, **kw)


@pytest.mark.parametrize("padding", [(0, 0), (2, 2), (0, 1), (2, 0)])
def test_winograd_any_padding(padding):
    rng = np.random.default_rng(7)
    w = rng.integers(-128, 128, (20, 9 * 18), dtype=np.int8)
    x = rng.integers(-128, 128, (2, 6, 7, 18), dtype=np.int8)
    _check(x, w, 18, 20, padding=padding)
    _check(x, w, 18, 20, padding=padding, output_scale=0.05, output_zero_point=-7)


@pytest.mark.parametrize("act", ["none", "relu", "hardswish", "hardsigmoid", "clamp"])
@pytest.mark.parametrize("res", ["none", "f32", "s8"])
def test_winograd_epilogues(act, res):
    rng = np.random.default_rng(11)
    w = rng.integers(-127, 128, (40, 9 * 32), dtype=np.int8)
    x = rng.integers(-128, 128, (2, 9, 10, 32), dtype=np.int8)
    kw = dict(activation=act)
    if act == "clamp":
        kw.update(act_lo=-1.0, act_hi=2.0)
    residual = None
    if res == "f32":
        residual = rng.standard_normal((2, 9, 10, 40)).astype(np.float32)
    elif res == "s8":
        residual = rng.integers(-128, 128, (2, 9, 10, 40), dtype=np.int8)
        kw.update(residual_scale=0.02, residual_zero_point=-5)
    _check(x, w, 32, 40, residual=residual, **kw)
    _check(x, w, 32, 40, residual=residual, output_scale=0.04, output_zero_point=-20, **kw)


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_winograd_threads_and_bands(threads):
    # Bands of tile rows and panel splits change with the thread count and the size of the
    # transformed weights (256 channels: over 1 MB, split by columns); the output may not.
    rng = np.random.default_rng(13)
    for shape, cout in [((1, 14, 14, 256), 256), ((3, 11, 12, 40), 48), ((1, 3, 3, 64), 64)]:
        w = rng.integers(-128, 128, (cout, 9 * shape[-1]), dtype=np.int8)
        x = rng.integers(-128, 128, shape, dtype=np.int8)
        _check(x, w, shape[-1], cout, threads=threads, output_scale=0.5, output_zero_point=1)


def test_winograd_extreme_values_stay_exact():
    # The largest accumulators the path admits: C = 2048 (4 * 9 * 2048 * 128^2 < 2^31), every product
    # +-128 * +-128, signs alternating so the transforms' intermediate sums are as large as they get.
    cin, cout = 2048, 16
    w = np.full((cout, 9 * cin), -128, np.int8)
    w[1::2] = 127
    w[2, ::2] = 127
    x = np.full((1, 4, 4, cin), -128, np.int8)
    x[0, ::2, 1::2] = 127
    x[0, 1, 1, ::3] = 127
    for zp in (-128, 127):
        _check(x, w, cin, cout, zp=zp, threads=1)


def test_winograd_nan_image_stays_nan():
    # fp32 inputs: an image with a NaN gives that image an all-NaN output, the other image its values.
    rng = np.random.default_rng(17)
    w = rng.integers(-128, 128, (24, 9 * 16), dtype=np.int8)
    x = rng.standard_normal((2, 6, 6, 16)).astype(np.float32)
    x[1, 2, 3, 4] = np.nan
    want = _plan("scalar", w, 16, 24, "never")(x, None, 2)
    for isa in WINOGRAD_ISAS:
        got = _plan(isa, w, 16, 24, "always")(x, None, 2)
        np.testing.assert_array_equal(got, want)
        assert np.isnan(got[1]).all() and np.isfinite(got[0]).all()


def test_winograd_is_chosen_where_it_applies_and_pays():
    rng = np.random.default_rng(19)
    w = rng.integers(-128, 128, (64, 9 * 64), dtype=np.int8)
    x = np.zeros((1, 56, 56, 64), np.int8)
    for isa in available_isas():
        auto = _plan(isa, w, 64, 64, "auto")
        assert auto.winograd == "auto"
        assert auto.uses_winograd(x) == (isa == "avx2")  # scalar: only when asked; VNNI / AMX: never
        assert not _plan(isa, w, 64, 64, "never").uses_winograd(x)
        assert _plan(isa, w, 64, 64, "always").uses_winograd(x) == (isa in ("scalar", "avx2"))
    # Stride 2, a 1x1 or a grouped conv, more than 2048 channels: the im2col path, whatever the mode.
    ws = np.ones(8, np.float32)
    pk = lambda k: [C.PackedQs8Weights(np.zeros((8, k), np.int8), "scalar")]
    s2 = C.Qs8Conv2dPlan(pk(9 * 16), (3, 3), (2, 2), (1, 1), (1, 1), 1, 0.1, 0, ws, None, False, winograd="always")
    assert not s2.uses_winograd(np.zeros((1, 8, 8, 16), np.int8))
    one = C.Qs8Conv2dPlan(pk(16), (1, 1), (1, 1), (0, 0), (1, 1), 1, 0.1, 0, ws, None, False, winograd="always")
    assert not one.uses_winograd(np.zeros((1, 8, 8, 16), np.int8))
    wide = C.Qs8Conv2dPlan(pk(9 * 2049), (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.1, 0, ws, None, False,
                           winograd="always")
    assert not wide.uses_winograd(np.zeros((1, 4, 4, 2049), np.int8))
    x = np.random.default_rng(1).integers(-128, 128, (1, 3, 3, 2049), dtype=np.int8)
    np.testing.assert_array_equal(wide(x, None, 1), C.Qs8Conv2dPlan(pk(9 * 2049), (3, 3), (1, 1), (1, 1), (1, 1), 1,
                                                                     0.1, 0, ws, None, False)(x, None, 1))


# The pack-time rule (qs8_winograd_candidate) and the per-call choice (uses_winograd under "auto")
# agree wherever the map has enough tiles, for every geometry, channel count and runnable path.
@pytest.mark.parametrize("kernel,stride,dilation,groups", [((3, 3), (1, 1), (1, 1), 1), ((3, 3), (2, 2), (1, 1), 1),
                                                           ((3, 3), (1, 1), (2, 2), 1), ((3, 3), (1, 1), (1, 1), 2),
                                                           ((1, 1), (1, 1), (1, 1), 1), ((3, 1), (1, 1), (1, 1), 1)])
@pytest.mark.parametrize("cin", [3, 15, 16, 64, 2048, 2050])
def test_winograd_candidate_agrees_with_the_call(kernel, stride, dilation, groups, cin):
    if cin % groups:
        pytest.skip("in_channels must divide into the groups")
    cout = 2 * groups
    ws = np.ones(cout, np.float32)
    x = np.zeros((1, 16, 16, cin), np.int8)
    k = kernel[0] * kernel[1] * cin // groups
    for isa in available_isas():
        pk = [C.PackedQs8Weights(np.zeros((cout // groups, k), np.int8), isa) for _ in range(groups)]
        plan = C.Qs8Conv2dPlan(pk, kernel, stride, (0, 0), dilation, groups, 0.1, 0, ws, None, False)
        got = C.qs8_winograd_candidate(kernel, stride, dilation, groups, cin, isa)
        assert got == plan.uses_winograd(x), (isa, kernel, stride, dilation, groups, cin)
    assert C.qs8_winograd_candidate(kernel, stride, dilation, groups, cin) == \
        C.qs8_winograd_candidate(kernel, stride, dilation, groups, cin, C.selected_isa())
    # A path this CPU lacks is still answered (the rule is data): never Winograd on VNNI / AMX.
    assert not C.qs8_winograd_candidate(kernel, stride, dilation, groups, cin, "amx")


def test_winograd_candidate_bad_arguments():
    with pytest.raises(ValueError, match="isa: 'sse9' is not a kernel path"):
        C.qs8_winograd_candidate((3, 3), (1, 1), (1, 1), 1, 16, "sse9")
    with pytest.raises(ValueError, match="groups, in_channels: expected >= 1"):
        C.qs8_winograd_candidate((3, 3), (1, 1), (1, 1), 1, 0)
    with pytest.raises(ValueError, match=r"kernel, stride, dilation: expected \(h, w\) pairs"):
        C.qs8_winograd_candidate((3,), (1, 1), (1, 1), 1, 16)


def test_winograd_bad_mode():
    pk = [C.PackedQs8Weights(np.zeros((8, 9 * 4), np.int8), "scalar")]
    with pytest.raises(ValueError, match="winograd: expected 'auto', 'always' or 'never', got 'yes'"):
        C.Qs8Conv2dPlan(pk, (3, 3), (1, 1), (1, 1), (1, 1), 1, 0.1, 0, np.ones(8, np.float32), None, False,
                        winograd="yes")
