// Portable 4x1 block-sparse fp32 kernel (the accumulation order of ref::f32_spmm per output).
#include "f32-bspmm.h"

namespace nnslim {

void nnslim_f32_bspmm_4x1__scalar(const BspmmArgs& a, int b0, int b1) {
  constexpr int kMB = 16;
  float tmp[kMB][4];
  for (int b = b0; b < b1; ++b) {
    for (int i = 0; i < a.mvalid; ++i)
      for (int r = 0; r < 4; ++r) tmp[i][r] = a.bias && 4 * b + r < a.N ? a.bias[4 * b + r] : 0.f;
    for (int64_t p = a.bptr[b]; p < a.bptr[b + 1]; ++p) {
      const float* x = a.xt + size_t(a.cols[p]) * kMB;
      const float* w = a.values + 4 * p;
      for (int i = 0; i < a.mvalid; ++i)
        for (int r = 0; r < 4; ++r) tmp[i][r] += w[r] * x[i];
    }
    f32_bspmm_store_rows(a, 4 * b, tmp);
  }
}

}  // namespace nnslim
