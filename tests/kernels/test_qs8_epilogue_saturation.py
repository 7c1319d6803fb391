"""The fused int8-output epilogue at its edges (csrc/kernels/qs8-gemm/qs8-epilogue-avx512-inl.h,
finish_requant512_finite_pair in kernels/common/finish-avx512-inl.h): outputs far past the int8
range on both sides (beyond the +-kStaticClamp float clamp, and past int32 after scaling), zero
points at -128 and 127, 16-, 32- and odd-column blocks, on the GEMM (1x1) and direct (3x3) paths,
with ReLU / clamp activations (applied to the rounded int16 values on AVX-512 / AMX).
Every ISA equals the scalar reference bit for bit."""
import numpy as np
import pytest

from nnslim._native import C


@pytest.mark.parametrize("cout", [16, 32, 45])
@pytest.mark.parametrize("k", [1, 3])
def test_requant_saturation_matches_scalar(isa, cout, k):
    rng = np.random.default_rng(cout * k)
    cin = 64
    x = rng.integers(-128, 128, (2, 9, 10, cin), dtype=np.int8)
    w = rng.integers(-128, 128, (cout, k * k * cin), dtype=np.int8)
    ws = (rng.random(cout) * 0.01 + 1e-3).astype(np.float32)
    b = (rng.standard_normal(cout) * 50).astype(np.float32)
    pad = k // 2
    res = rng.integers(-128, 128, (2, 9, 10, cout), dtype=np.int8)  # an int8 residual of the output's shape

    def run(which, out_scale, zp, **kw):
        pk = [C.PackedQs8Weights(w, which)]
        return C.qs8_conv2d_static(x, pk, (k, k), (1, 1), (pad, pad), (1, 1), 1, 0.03, -3, ws, b, False, 2,
                                   output_scale=out_scale, output_zero_point=zp, **kw)

    for out_scale in (1e-9, 1e-4, 0.05, 3.0, 1e6):
        for zp in (-128, -1, 0, 127):
            want = run("scalar", out_scale, zp)
            got = run(isa, out_scale, zp)
            assert np.array_equal(got, want), (out_scale, zp)
            if out_scale == 1e-9:  # t = y / scale is far beyond int32 on both sides
                assert (want == 127).any() and (want == -128).any()
            # Activations on the rounded values (AVX-512 / AMX): bounds inside and beyond +-kStaticClamp
            # once scaled, on both sides of zero, and ReLU in the GEMM epilogue or as the activation.
            for act in [dict(activation="clamp", act_lo=-2.0, act_hi=5.0), dict(activation="clamp", act_lo=0.5, act_hi=5.0),
                        dict(activation="clamp", act_lo=-5.0, act_hi=-0.5), dict(activation="clamp", act_lo=1.0, act_hi=1.0),
                        dict(activation="relu"), dict(relu=True),
                        dict(activation="relu", residual=res, residual_scale=0.02, residual_zero_point=3),
                        dict(relu=True, residual=res, residual_scale=0.02, residual_zero_point=3),
                        dict(activation="clamp", act_lo=0.0, act_hi=6.0, residual=res, residual_scale=0.5)]:
                r = act.pop("relu", False)
                want = C.qs8_conv2d_static(x, [C.PackedQs8Weights(w, "scalar")], (k, k), (1, 1), (pad, pad), (1, 1), 1,
                                           0.03, -3, ws, b, r, 2, output_scale=out_scale, output_zero_point=zp, **act)
                got = C.qs8_conv2d_static(x, [C.PackedQs8Weights(w, isa)], (k, k), (1, 1), (pad, pad), (1, 1), 1,
                                          0.03, -3, ws, b, r, 2, output_scale=out_scale, output_zero_point=zp, **act)
                assert np.array_equal(got, want), (out_scale, zp, act, r)


@pytest.mark.parametrize("channels", [16, 32, 45])
def test_dwconv_requant_saturation_matches_scalar(isa, channels):
    """The depthwise kernel's in-register requantization (StoreS8Finite in qs8-dwconv-avx512vnni.cc)
    at the same edges, with and without an int8 residual, and a NaN image that takes the general path."""
    rng = np.random.default_rng(channels)
    x = rng.integers(-128, 128, (2, 9, 10, channels), dtype=np.int8)
    w = rng.integers(-128, 128, (channels, 3, 3), dtype=np.int8)
    ws = (rng.random(channels) * 0.01 + 1e-3).astype(np.float32)
    b = (rng.standard_normal(channels) * 50).astype(np.float32)
    res = rng.integers(-128, 128, (2, 9, 10, channels), dtype=np.int8)

    def run(which, xin, **kw):
        return C.qs8_dwconv2d_static(xin, C.PackedQs8DwWeights(w, which), (1, 1), (1, 1), (1, 1), 0.03, -3, ws, b,
                                     num_threads=2, **kw)

    acts = [dict(), dict(activation="relu"), dict(activation="clamp", act_lo=0.0, act_hi=6.0),
            dict(activation="clamp", act_lo=0.5, act_hi=5.0), dict(activation="clamp", act_lo=-5.0, act_hi=-0.5),
            dict(activation="hardswish"), dict(activation="relu", residual=res, residual_scale=0.02)]
    xf = (x.astype(np.float32) + 3) * 0.03
    xf[1, 2, 3, 0] = np.nan  # fp32 input: the NaN image's scale is non-finite, so it takes the general path
    for out_scale in (1e-9, 1e-4, 0.05, 1e6):
        for zp in (-128, 0, 127):
            for act in acts:
                kw = dict(act, output_scale=out_scale, output_zero_point=zp)
                assert np.array_equal(run(isa, x, **kw), run("scalar", x, **kw)), (out_scale, zp, act)
                assert np.array_equal(run(isa, xf, **kw), run("scalar", xf, **kw)), (out_scale, zp, act, "fp32")
