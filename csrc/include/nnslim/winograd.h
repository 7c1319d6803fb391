// The integer Winograd F(2x2, 3x3) path of a static int8 convolution (kernels/qs8-winograd/ says
// how it stays exact): stride-1 3x3 convs on ISAs whose int8 multiplies are s16-pair ones (AVX2),
// where it does 16 products per 2x2 output tile and channel pair instead of 36.
#pragma once
#include <cstdint>
#include <string>

#include "nnslim/conv_io.h"
#include "nnslim/gemm.h"

namespace nnslim {

// Which path a stride-1 3x3 conv takes: automatic (Winograd where it applies and pays: AVX2 weights,
// enough output tiles for the transformed weights), always (wherever it applies, the scalar
// reference included: tests), never (im2col).
enum class WinogradMode : int { automatic = 0, always = 1, never = 2 };
// "auto", "always", "never"; anything else throws std::invalid_argument naming `arg`.
WinogradMode winograd_mode_arg(const std::string& value, const char* arg);

// 3x3, stride 1, dilation 1, one group, C <= kWinogradMaxC, im2col-layout weights (K = 9C) of an
// ISA with Winograd kernels (scalar, AVX2).
bool qs8_winograd_applies(const Conv2dShape& s, const PackedB& B);
// WinogradMode::automatic's choice for a conv that applies.
bool qs8_winograd_pays(const Conv2dShape& s, const PackedB& B);
// What of qs8_winograd_applies and qs8_winograd_pays holds before any input is seen: a conv of this
// geometry over C input channels can run Winograd under WinogradMode::automatic on `isa` (the
// number of output tiles decides the rest per call). Layers pick their im2col weights' PackHint
// from it (Winograd reads weights of its own), so the rule lives here once.
bool qs8_winograd_candidate(int KH, int KW, int stride_h, int stride_w, int dil_h, int dil_w, int groups, int C,
                            Isa isa);

// Whether qs8_conv2d_static runs conv s on B by Winograd under `mode`.
inline bool qs8_conv_takes_winograd(const Conv2dShape& s, const PackedB& B, WinogradMode mode) {
  return mode != WinogradMode::never && qs8_winograd_applies(s, B) &&
         (mode == WinogradMode::always || qs8_winograd_pays(s, B));
}

struct WinogradWeights;
// B's weights transformed for Winograd (built from B on first use, then kept with B).
const WinogradWeights& qs8_winograd_weights(const PackedB& B, int C);

// The conv of qs8_conv2d_static on its int8 input xq, for a shape that applies; same arguments and
// results (bit-equal: the int32 accumulators are the im2col GEMM's).
void qs8_conv2d_winograd(const ConvIO& io, const Conv2dShape& s, const PackedB& B, const int8_t* xq,
                         const float* pixel_scale, const float* b_scale, const float* bias, bool relu, int num_threads);

}  // namespace nnslim
