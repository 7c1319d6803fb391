// Portable max-pool kernels: a running max plus a NaN flag, both branch-free.
#include <cmath>

#include "f32-maxpool.h"

namespace nnslim {

namespace {

inline float finish(float m, bool nan) { return nan ? std::nanf("") : m; }

}  // namespace

void nnslim_f32_maxpool_rows__scalar(const float* const* rows, int nrows, int W, float* out) {
  for (int w = 0; w < W; ++w) {
    float m = rows[0][w];
    bool nan = m != m;
    for (int r = 1; r < nrows; ++r) {
      const float v = rows[r][w];
      nan |= v != v;
      m = v > m ? v : m;
    }
    out[w] = finish(m, nan);
  }
}

void nnslim_f32_maxpool_slide__scalar(const float* in, int len, int k, int dil, float* out) {
  for (int w = 0; w < len; ++w) {
    float m = in[w];
    bool nan = m != m;
    for (int j = 1; j < k; ++j) {
      const float v = in[w + j * dil];
      nan |= v != v;
      m = v > m ? v : m;
    }
    out[w] = finish(m, nan);
  }
}

}  // namespace nnslim
