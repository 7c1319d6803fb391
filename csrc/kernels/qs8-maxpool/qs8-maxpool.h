// Per-ISA int8 NHWC max pool kernels: out[c] = max over `count` input pixel rows (C bytes each).
// Max is exact and keeps the input's scale and zero point, so an int8 edge passes through unchanged.
#pragma once
#include <cstdint>

namespace nnslim {

#define NNSLIM_DECLARE_QS8_MAXPOOL(isa) \
  void nnslim_qs8_maxpool_pixel__##isa(const int8_t* const* rows, int count, int C, int8_t* out);
NNSLIM_DECLARE_QS8_MAXPOOL(scalar)
NNSLIM_DECLARE_QS8_MAXPOOL(avx2)
#undef NNSLIM_DECLARE_QS8_MAXPOOL

}  // namespace nnslim
