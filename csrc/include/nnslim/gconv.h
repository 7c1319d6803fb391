// Grouped int8 convolution (1 < groups < channels, a few channels per group: ResNeXt's 32 x 4d,
// RegNet's group widths), direct on NHWC. One GEMM per group has only 4-16 output columns, which
// fill a fraction of a GEMM panel and rebuild im2col rows per group; here each output row reads its
// window straight from an int16 copy of the input rows it needs, and each output channel lane meets
// its own group's input channels, broadcast (8 or more output channels per group) or permuted into
// the lanes (2 or 4 per group). Every product is exact in int32, as in the reference.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "nnslim/conv_io.h"
#include "nnslim/dwconv.h"
#include "nnslim/gemm.h"
#include "nnslim/hw.h"

namespace nnslim {

// Weights (Cout, C / groups, KH, KW) int8, packed once for one ISA; the layout is private to it.
struct PackedGconv {
  Isa isa = Isa::scalar;
  int groups = 0, cg = 0, coutg = 0, KH = 0, KW = 0;  // cg / coutg: input / output channels per group
  int Cout = 0, Coutp = 0;     // Coutp: Cout rounded up to the kernel's lane block
  int patch_c = 0;             // int16 per pixel of the kernel's input patch (C, or C padded: widen)
  std::vector<int16_t> data;   // widened to int16: products of pairs of channels (vpmaddwd)
};

// One output row's run of `count` pixels read from an int16, zero-point-padded copy of the KH input
// rows it needs, each pixel widened by the config's `widen` into patch_c int16s: pixel i's tap
// (kh, kw) starts at patch[kh * row_stride + i * pixel_step + kw * tap_step] (pixel_step =
// stride_w * patch_c, tap_step = dil_w * patch_c).
struct GconvRun {
  const int16_t* patch;
  size_t row_stride, pixel_step, tap_step;
  int count;
  int group0, group1;  // the groups whose output channels this run computes (a thread's share)
};

// widen: `pixels` NHWC pixels of C int8 -> pixels * patch_c int16 in the kernel's channel order.
// run: out[i * ldo + o] = float(acc[i, o]) * scale[o] + bias[o] for o < Cout, where acc[i, o] =
// sum_{kh, kw, j < cg} w[o, j, kh, kw] * x(i, kh, kw)[g(o) * cg + j] exactly in int32, g(o) =
// o / coutg, and x(i, kh, kw) the input pixel that tap reads; scale and bias hold Coutp values (bias
// may be null: zero).
// run_requant (optional): the same values, finished into int8 as DwRequant (nnslim/dwconv.h) says,
// with no fp32 block.
struct Qs8GconvConfig {
  Isa isa;  // the layout this config packs and reads
  // Coutp is Cout rounded up to it; a run's group range starts and ends on multiples of
  // lane_block / coutg groups (or at the last group).
  int (*lane_block)(int coutg, int cg);
  int (*patch_channels)(int C, int coutg, int cg);
  void (*pack)(const int8_t* w, PackedGconv* out);
  void (*widen)(const PackedGconv& w, const int8_t* src, int pixels, int16_t* dst);
  void (*run)(const PackedGconv& w, const GconvRun& r, const float* scale, const float* bias, float* out, size_t ldo);
  void (*run_requant)(const PackedGconv& w, const GconvRun& r, const float* scale, const float* bias,
                      const DwRequant& q);
};

// Whether the direct grouped kernels take this geometry (else: one GEMM per group), on every ISA:
// 1 < groups < C, an even number of input channels per group (cg <= 512), and output channels per
// group a multiple of 8, or 2 or 4 with cg <= 2 * coutg (a lane block of 8 output channels then
// reads at most 16 input channels).
bool qs8_gconv_supported(int C, int Cout, int groups);

const Qs8GconvConfig& qs8_gconv_config(Isa isa);

// w: (Cout, cg, KH, KW) int8 as torch stores a grouped conv's weight.
std::unique_ptr<PackedGconv> qs8_gconv_pack(const int8_t* w, int C, int Cout, int groups, int KH, int KW, Isa isa);

// Static int8 grouped conv (nnslim/conv_io.h says what goes in and out); shape fields as for
// qs8_conv2d_static. `bias` has the zero-point term folded in. A non-finite value in an fp32 input
// image makes that image's whole output NaN.
void qs8_gconv2d_static(const ConvIO& io, const Conv2dShape& s, const PackedGconv& w, const float* w_scale,
                        const float* bias, int num_threads);

namespace ref {
// acc[n, oh, ow, o] = sum_{j, kh, kw} w[o, j, kh, kw] * (x[n, ih, iw, g(o) * cg + j] or zero_point
// outside the image): the grouped convolution of int8 NHWC x, any groups.
void qs8_conv_s32(const int8_t* x, const Conv2dShape& s, const int8_t* w, int8_t zero_point, int32_t* acc);
}  // namespace ref

}  // namespace nnslim
