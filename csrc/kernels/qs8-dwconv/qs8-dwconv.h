// Per-ISA depthwise int8 kernels (semantics: Qs8DwConfig in nnslim/dwconv.h, ref::qs8_dwconv_s32).
#pragma once
#include "nnslim/dwconv.h"

namespace nnslim {

// ukernel semantics: Qs8DwConfig::run. The SIMD kernels' weights are packed by the portable
// pack_tap_pairs in dispatch/qs8-dwconv.cc (their layout differs only in the channel tile).
void nnslim_qs8_dwconv_pack__scalar(const int8_t* w, int C, int taps, PackedDw* out);
#define NNSLIM_DECLARE_QS8_DWCONV(isa)                                                                 \
  void nnslim_qs8_dwconv_ukernel__##isa(const PackedDw& w, const DwRun& r, const float* scale, const float* bias, \
                                        float* out, size_t ldo);
NNSLIM_DECLARE_QS8_DWCONV(scalar)
NNSLIM_DECLARE_QS8_DWCONV(avx2)
NNSLIM_DECLARE_QS8_DWCONV(avx512vnni)
#undef NNSLIM_DECLARE_QS8_DWCONV
void nnslim_qs8_dwconv_ukernel_requant__avx2(const PackedDw& w, const DwRun& r, const float* scale, const float* bias,
                                             const DwRequant& q);
void nnslim_qs8_dwconv_ukernel_requant__avx512vnni(const PackedDw& w, const DwRun& r, const float* scale,
                                                   const float* bias, const DwRequant& q);

}  // namespace nnslim
