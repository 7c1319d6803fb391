// Depthwise int8 convolution (groups == in_channels == out_channels), direct on NHWC: every output
// pixel reads its KH * KW taps as strided rows of the input (a zero-point patch at the borders), so
// there is no im2col, no indirection list and no per-group GEMM.
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

// A run of `count` output pixels of one output row whose taps are all readable (inside the image, a
// zero-point row, or a zero-point-padded patch): pixel i's tap t is the C bytes at tap[t] + i * step
// (step = stride_w * C), so kernels do no bounds checks.
struct DwRun {
  const int8_t* const* tap;  // KH * KW pointers, pixel 0's taps in (kh, kw) order
  size_t step;
  int count;
};

// The int8 output of a run, fused into the kernel (configs with run_requant): out pixel i, channel c
// becomes requant(act(y + residual[(row0 + i) * post->ldr + c])) at yq[i * C + c], exactly as
// qs8_conv_finish_block would finish the fp32 block.
struct DwRequant {
  const PostOp* post;
  const Requant* rq;
  int8_t* yq;
  int64_t row0;  // the run's first output pixel (global index), for the residual
  // Whether every scale and bias of the run is finite and within the kernels' finite-value bound
  // (kFiniteBound in kernels/common/finish-bounds-inl.h), checked once per image by the caller.
  bool columns_bounded;
};

// run: out[i * ldo + c] = float(acc[c]) * scale[c] + bias[c] for c < C, where acc[c] = sum_t w[c, t] *
// tap_t(i)[c] exactly in int32 and scale[c] = a_scale * w_scale[c]; scale and bias hold Cp values.
// run_requant (optional): the same values, finished into int8 as DwRequant says, with no fp32 block.
struct Qs8DwConfig {
  Isa isa;  // the layout this config packs and reads
  int channel_tile;
  void (*pack)(const int8_t* w, int C, int taps, PackedDw* out);
  void (*run)(const PackedDw& w, const DwRun& r, const float* scale, const float* bias, float* out, size_t ldo);
  void (*run_requant)(const PackedDw& w, const DwRun& r, const float* scale, const float* bias, const DwRequant& q);
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
