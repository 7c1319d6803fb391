// Scalar NCHW -> NHWC static quantizer: the reference the SIMD kernel must equal byte for byte.
#include <cmath>

#include "nnslim/ref.h"
#include "qs8-quant-nchw.h"

namespace nnslim {

void nnslim_qs8_quant_nchw__scalar(const float* x, int C, int64_t HW, int64_t p0, int64_t p1, float inv_scale,
                                   int32_t zero_point, int8_t* q, bool* bad) {
  for (int64_t p = p0; p < p1; ++p)
    for (int c = 0; c < C; ++c) {
      const float xv = x[c * HW + p];
      if (!(std::fabs(xv) <= 3.40282347e38f)) *bad = true;
      float v = xv * inv_scale;
      v = v >= -ref::kStaticClamp ? v : -ref::kStaticClamp;  // NaN -> the low clamp, as ref
      v = v <= ref::kStaticClamp ? v : ref::kStaticClamp;
      const int32_t r = static_cast<int32_t>(std::nearbyint(v)) + zero_point;
      q[p * C + c] = static_cast<int8_t>(r < -128 ? -128 : (r > 127 ? 127 : r));
    }
}

}  // namespace nnslim
