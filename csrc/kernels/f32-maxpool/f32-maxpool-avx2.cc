// AVX2 max-pool kernels, 8 columns per vector. vmaxps returns its second operand when either is
// NaN, so NaN lanes are tracked with an unordered compare and restored at the end (max is exact:
// values equal the scalar path's).
#include <immintrin.h>

#include "f32-maxpool.h"

namespace nnslim {

namespace {

inline float scalar_max(const float* p, int n, int stride) {
  float m = p[0];
  bool nan = m != m;
  for (int i = 1; i < n; ++i) {
    const float v = p[i * stride];
    nan |= v != v;
    m = v > m ? v : m;
  }
  return nan ? __builtin_nanf("") : m;
}

}  // namespace

void nnslim_f32_maxpool_rows__avx2(const float* const* rows, int nrows, int W, float* out) {
  int w = 0;
  for (; w + 8 <= W; w += 8) {
    __m256 m = _mm256_loadu_ps(rows[0] + w);
    __m256 nan = _mm256_cmp_ps(m, m, _CMP_UNORD_Q);
    for (int r = 1; r < nrows; ++r) {
      const __m256 v = _mm256_loadu_ps(rows[r] + w);
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      m = _mm256_max_ps(m, v);
    }
    _mm256_storeu_ps(out + w, _mm256_blendv_ps(m, _mm256_set1_ps(__builtin_nanf("")), nan));
  }
  for (; w < W; ++w) {
    float m = rows[0][w];
    bool nan = m != m;
    for (int r = 1; r < nrows; ++r) {
      const float v = rows[r][w];
      nan |= v != v;
      m = v > m ? v : m;
    }
    out[w] = nan ? __builtin_nanf("") : m;
  }
}

void nnslim_f32_maxpool_slide__avx2(const float* in, int len, int k, int dil, float* out) {
  int w = 0;
  for (; w + 8 <= len; w += 8) {
    __m256 m = _mm256_loadu_ps(in + w);
    __m256 nan = _mm256_cmp_ps(m, m, _CMP_UNORD_Q);
    for (int j = 1; j < k; ++j) {
      const __m256 v = _mm256_loadu_ps(in + w + j * dil);
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      m = _mm256_max_ps(m, v);
    }
    _mm256_storeu_ps(out + w, _mm256_blendv_ps(m, _mm256_set1_ps(__builtin_nanf("")), nan));
  }
  for (; w < len; ++w) out[w] = scalar_max(in + w, k, dil);
}

}  // namespace nnslim
