// AVX2 4x1 block-sparse fp32 kernel: tiles of 16 activation rows (two YMM per input column); per
// block, two x loads feed 8 FMAs (4 rows x 2 vectors). The store transposes the 4 x 16 tile in
// registers (4 x 4 within each 128-bit lane) into 4 consecutive outputs per activation row.
#include <immintrin.h>

#include "../common/transpose4-inl.h"
#include "f32-bspmm.h"

namespace nnslim {

namespace {

constexpr int kMB = 16;

}  // namespace

void nnslim_f32_bspmm_4x1__avx2(const BspmmArgs& a, int b0, int b1) {
  for (int b = b0; b < b1; ++b) {
    const int n0 = 4 * b;
    __m256 c[4][2];
    for (int r = 0; r < 4; ++r) c[r][0] = c[r][1] = _mm256_set1_ps(a.bias && n0 + r < a.N ? a.bias[n0 + r] : 0.f);
    for (int64_t p = a.bptr[b], pe = a.bptr[b + 1]; p < pe; ++p) {
      const float* x = a.xt + size_t(a.cols[p]) * kMB;
      const __m256 x0 = _mm256_load_ps(x), x1 = _mm256_load_ps(x + 8);
      const float* w = a.values + 4 * p;
      for (int r = 0; r < 4; ++r) {
        const __m256 wv = _mm256_broadcast_ss(w + r);
        c[r][0] = _mm256_fmadd_ps(wv, x0, c[r][0]);
        c[r][1] = _mm256_fmadd_ps(wv, x1, c[r][1]);
      }
    }
    // o[v][t] lane h: the 4 outputs of activation row 8v + 4h + t.
    __m256 o[2][4];
    for (int v = 0; v < 2; ++v) {
      const __m256 rr[4] = {c[0][v], c[1][v], c[2][v], c[3][v]};
      transpose4_lanes(rr, o[v]);
    }
    if (a.mvalid == kMB && n0 + 4 <= a.N) {
      for (int v = 0; v < 2; ++v)
        for (int t = 0; t < 4; ++t) {
          _mm_storeu_ps(a.y + size_t(a.m0 + 8 * v + t) * a.ldy + n0, _mm256_castps256_ps128(o[v][t]));
          _mm_storeu_ps(a.y + size_t(a.m0 + 8 * v + 4 + t) * a.ldy + n0, _mm256_extractf128_ps(o[v][t], 1));
        }
      continue;
    }
    alignas(16) float tmp[kMB][4];
    for (int v = 0; v < 2; ++v)
      for (int t = 0; t < 4; ++t) {
        _mm_store_ps(tmp[8 * v + t], _mm256_castps256_ps128(o[v][t]));
        _mm_store_ps(tmp[8 * v + 4 + t], _mm256_extractf128_ps(o[v][t], 1));
      }
    f32_bspmm_store_rows(a, n0, tmp);
  }
}

}  // namespace nnslim
