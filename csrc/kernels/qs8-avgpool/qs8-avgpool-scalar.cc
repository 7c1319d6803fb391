// Portable int8 average over a window's pixel rows: the definition the AVX2 kernel reproduces.
#include <cmath>

#include "qs8-avgpool.h"

namespace nnslim {

void nnslim_qs8_avgpool_pixel__scalar(const int8_t* const* rows, int count, int C, int zero_point, int divisor,
                                      int8_t* out) {
  const float inv = 1.f / float(divisor);
  for (int c = 0; c < C; ++c) {
    int32_t sum = 0;
    for (int i = 0; i < count; ++i) sum += rows[i][c];
    sum -= count * zero_point;
    // |sum| <= count * 255 < 2^24: exact in float; nearbyint rounds half to even (the default mode),
    // as vcvtps2dq does.
    const int32_t q = int32_t(std::nearbyint(float(sum) * inv)) + zero_point;
    out[c] = int8_t(q < -128 ? -128 : q > 127 ? 127 : q);
  }
}

}  // namespace nnslim
