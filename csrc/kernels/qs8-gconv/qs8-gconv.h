// Per-ISA grouped int8 conv kernels (semantics: Qs8GconvConfig in nnslim/gconv.h, ref::qs8_conv_s32).
#pragma once
#include "nnslim/gconv.h"

namespace nnslim {

// The scalar layout: int16 [o][kh * KW + kw][j], Coutp == Cout, the patch plain NHWC (patch_c == C).
void nnslim_qs8_gconv_pack__scalar(const int8_t* w, PackedGconv* out);
void nnslim_qs8_gconv_widen__scalar(const PackedGconv& w, const int8_t* src, int pixels, int16_t* dst);
void nnslim_qs8_gconv_ukernel__scalar(const PackedGconv& w, const GconvRun& r, const float* scale, const float* bias,
                                      float* out, size_t ldo);
// The AVX2 layout (packed by the portable pack_lane_pairs in dispatch/qs8-gconv.cc): per block b of
// 8 lanes, tap and channel pair p, lane l's (w[o, 2p], w[o, 2p + 1]) as int16 for output channel
// o = block_lane_output(coutg, cg, b, l) (8b + l, except where a block's halves are two groups).
// Its patch: plain NHWC on the broadcast path, else lane-ordered in runs of 16 channels (C padded
// to a multiple of 16).
int nnslim_qs8_gconv_lane_block__avx2(int coutg, int cg);
int nnslim_qs8_gconv_block_lane_output__avx2(int coutg, int cg, int b, int l);
int nnslim_qs8_gconv_patch_channels__avx2(int C, int coutg, int cg);
void nnslim_qs8_gconv_widen__avx2(const PackedGconv& w, const int8_t* src, int pixels, int16_t* dst);
void nnslim_qs8_gconv_ukernel__avx2(const PackedGconv& w, const GconvRun& r, const float* scale, const float* bias,
                                    float* out, size_t ldo);
void nnslim_qs8_gconv_ukernel_requant__avx2(const PackedGconv& w, const GconvRun& r, const float* scale,
                                            const float* bias, const DwRequant& q);

}  // namespace nnslim
