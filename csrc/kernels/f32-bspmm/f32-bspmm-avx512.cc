// AVX-512 4x1 block-sparse fp32 kernel: tiles of 32 activation rows (two ZMM per input column); per
// block, two x loads feed 8 FMAs (4 rows x 2 vectors). The store transposes 4 x 4 within each
// 128-bit lane: lane L of o[v][t] holds the 4 outputs of activation row 16v + 4L + t.
#include <immintrin.h>

#include "../common/transpose4-inl.h"
#include "f32-bspmm.h"

namespace nnslim {

namespace {

constexpr int kMB = 32;

}  // namespace

void nnslim_f32_bspmm_4x1__avx512(const BspmmArgs& a, int b0, int b1) {
  for (int b = b0; b < b1; ++b) {
    const int n0 = 4 * b;
    __m512 c[4][2];
    for (int r = 0; r < 4; ++r) c[r][0] = c[r][1] = _mm512_set1_ps(a.bias && n0 + r < a.N ? a.bias[n0 + r] : 0.f);
    for (int64_t p = a.bptr[b], pe = a.bptr[b + 1]; p < pe; ++p) {
      const float* x = a.xt + size_t(a.cols[p]) * kMB;
      const __m512 x0 = _mm512_load_ps(x), x1 = _mm512_load_ps(x + 16);
      const float* w = a.values + 4 * p;
      for (int r = 0; r < 4; ++r) {
        const __m512 wv = _mm512_set1_ps(w[r]);
        c[r][0] = _mm512_fmadd_ps(wv, x0, c[r][0]);
        c[r][1] = _mm512_fmadd_ps(wv, x1, c[r][1]);
      }
    }
    alignas(64) float tmp[kMB][4];
    for (int v = 0; v < 2; ++v) {
      const __m512 rr[4] = {c[0][v], c[1][v], c[2][v], c[3][v]};
      __m512 o[4];
      transpose4_lanes(rr, o);
      for (int t = 0; t < 4; ++t) {
        _mm_store_ps(tmp[16 * v + t], _mm512_castps512_ps128(o[t]));
        _mm_store_ps(tmp[16 * v + 4 + t], _mm512_extractf32x4_ps(o[t], 1));
        _mm_store_ps(tmp[16 * v + 8 + t], _mm512_extractf32x4_ps(o[t], 2));
        _mm_store_ps(tmp[16 * v + 12 + t], _mm512_extractf32x4_ps(o[t], 3));
      }
    }
    if (a.mvalid == kMB && n0 + 4 <= a.N) {
      for (int i = 0; i < kMB; ++i) _mm_storeu_ps(a.y + size_t(a.m0 + i) * a.ldy + n0, _mm_load_ps(tmp[i]));
    } else {
      f32_bspmm_store_rows(a, n0, tmp);
    }
  }
}

}  // namespace nnslim
