// Portable block finishing: the definition the SIMD paths reproduce.
#include <cmath>

#include "nnslim/ref.h"
#include "qs8-requant.h"

namespace nnslim {

void nnslim_qs8_finish_block__scalar(float* block, size_t ldb, int rows, int cols, const PostOp& op, int64_t row0,
                                     int col0, const Requant* rq, int8_t* yq, size_t ldy) {
  constexpr float kMax = 3.40282347e38f;
  for (int r = 0; r < rows; ++r) {
    float* row = block + size_t(r) * ldb;
    const size_t base = size_t(row0 + r) * op.ldr + col0;
    for (int c = 0; c < cols; ++c) {
      const float res = op.residual ? op.residual[base + c]
                        : op.residual_q ? float(int32_t(op.residual_q[base + c]) - op.res_zero_point) * op.res_scale
                                        : 0.f;
      float v = postop_value(row[c], op, res);
      if (!rq) {
        row[c] = v;
        continue;
      }
      // Value by value (a row quantizer would zero a whole row for one non-finite value).
      v = v != v ? 0.f : (v > kMax ? kMax : (v < -kMax ? -kMax : v));
      float t = v * rq->inv_scale;
      t = t >= -ref::kStaticClamp ? t : -ref::kStaticClamp;
      t = t <= ref::kStaticClamp ? t : ref::kStaticClamp;
      const int32_t q = static_cast<int32_t>(std::nearbyint(t)) + rq->zero_point;
      yq[size_t(r) * ldy + c] = static_cast<int8_t>(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
  }
}

}  // namespace nnslim
