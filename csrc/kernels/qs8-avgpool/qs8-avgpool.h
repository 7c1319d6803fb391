// Per-ISA int8 NHWC average pool kernels: per channel, the sum of the window's `count` in-image
// pixel rows (C bytes each) less count * zero_point (padding holds the zero point, a real 0, so it adds
// nothing), times 1 / divisor in float, rounded to nearest even, plus the zero point, saturated to
// int8. The output keeps the input's scale and zero point (torch.ao's quantized avg_pool2d does the
// same), so an int8 edge passes through; the AVX2 kernel computes the same float product and rounding
// as the scalar definition, so their bytes are identical.
#pragma once
#include <cstdint>

namespace nnslim {

#define NNSLIM_DECLARE_QS8_AVGPOOL(isa)                                                                     \
  void nnslim_qs8_avgpool_pixel__##isa(const int8_t* const* rows, int count, int C, int zero_point, int divisor, \
                                       int8_t* out);
NNSLIM_DECLARE_QS8_AVGPOOL(scalar)
NNSLIM_DECLARE_QS8_AVGPOOL(avx2)
#undef NNSLIM_DECLARE_QS8_AVGPOOL

}  // namespace nnslim
