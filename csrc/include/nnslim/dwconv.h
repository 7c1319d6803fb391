// Depthwise int8 convolution (groups == in_channels == out_channels), direct on NHWC: every output
// pixel reads its KH * KW input rows through an indirection list (a zero-point row stands in for
// padding), so there is no im2col and no per-group GEMM.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "nnslim/conv_io.h"
#include "nnslim/gemm.h"
#include "nnslim/hw.h"
#include "nnslim/postop.h"

namespace nnslim {

// Weights (C, KH * KW) int8, packed once for one ISA; the layout is private to that ISA's kernel.
struct PackedDw {
  Isa isa = Isa::scalar;
  int C = 0, taps = 0;
  int Cp = 0;                 // C rounded up to the kernel's channel tile (scale / bias arrays hold Cp)
  std::vector<int16_t> data;  // widened to int16: the SIMD kernels multiply pairs of taps (vpmaddwd / vpdpwssd)
};

// Computes `count` output pixels. rows[i * taps + t] is the int8 input row (C bytes) of pixel i's
// tap t; scale and bias hold Cp values. out[i * ldo + c] = float(acc[c]) * scale[c] + bias[c] for c < C, where
// acc[c] = sum_t w[c, t] * row_t[c] exactly in int32 and scale[c] = a_scale * w_scale[c].
struct Qs8DwConfig {
  Isa isa;  // the layout this config packs and reads
  int channel_tile;
  void (*pack)(const int8_t* w, int C, int taps, PackedDw* out);
  void (*run)(const PackedDw& w, const int8_t* const* rows, int count, const float* scale, const float* bias,
              float* out, size_t ldo);
};

// The config for `isa`: AVX-512 VNNI (vpdpwssd, 32 channels a step) also serves AMX machines
// (depthwise has no reduction over channels for AMX tiles).
const Qs8DwConfig& qs8_dwconv_config(Isa isa);

std::unique_ptr<PackedDw> qs8_dwconv_pack(const int8_t* w, int C, int taps, Isa isa);

// Static int8 depthwise conv (nnslim/conv_io.h says what goes in and out); shape fields as for
// qs8_conv2d_static with groups == C == Cout. `bias` has the zero-point term folded in. A non-finite
// value in an fp32 input image makes that image's whole output NaN.
void qs8_dwconv2d_static(const ConvIO& io, const Conv2dShape& s, const PackedDw& w, const float* w_scale,
                         const float* bias, int num_threads);

namespace ref {
// acc[n, oh, ow, c] = sum_{kh, kw} w[c, kh * KW + kw] * (x[n, ih, iw, c] or zero_point outside the image).
void qs8_dwconv_s32(const int8_t* x, const Conv2dShape& s, const int8_t* w, int8_t zero_point, int32_t* acc);
}  // namespace ref

}  // namespace nnslim
