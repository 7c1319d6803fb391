// AVX2 depthwise int8 kernel, 16 channels per step. Two taps are interleaved per 16-bit lane pair
// so one vpmaddwd multiplies and adds both; the weights are packed in that interleaved order
// (per 16-channel block and tap pair: the vpunpcklwd half, then the vpunpckhwd half).
#include <immintrin.h>

#include <cstring>

#include "qs8-dwconv.h"

namespace nnslim {

namespace {
constexpr int kTile = 16;
inline int pairs(int taps) { return (taps + 1) / 2; }
}  // namespace

// Weights come packed by the portable pack_tap_pairs (dispatch/qs8-dwconv.cc) in this kernel's order.
void nnslim_qs8_dwconv_ukernel__avx2(const PackedDw& w, const DwRun& run, const float* scale, const float* bias,
                                     float* out, size_t ldo) {
  const int C = w.C, taps = w.taps, P = pairs(taps);
  const int16_t* wbase = w.data.data();
  for (int i = 0; i < run.count; ++i) {
    const size_t off = size_t(i) * run.step;
    const int8_t* const* r = run.tap;
    float* y = out + size_t(i) * ldo;
    for (int c0 = 0; c0 < C; c0 += kTile) {
      const int16_t* wp = wbase + size_t(c0 / kTile) * P * 32;
      __m256i acc_lo = _mm256_setzero_si256(), acc_hi = _mm256_setzero_si256();
      const int cn = C - c0 < kTile ? C - c0 : kTile;  // rows hold C bytes: the last block copies its tail
      for (int p = 0; p < P; ++p, wp += 32) {
        const int8_t* x0 = r[2 * p] + off + c0;
        // An odd last tap pairs with itself: its packed weight is zero.
        const int8_t* x1 = (2 * p + 1 < taps ? r[2 * p + 1] : r[2 * p]) + off + c0;
        __m128i l0, l1;
        if (cn == kTile) {
          l0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x0));
          l1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x1));
        } else {
          alignas(16) int8_t t0[kTile] = {}, t1[kTile] = {};
          std::memcpy(t0, x0, cn);
          std::memcpy(t1, x1, cn);
          l0 = _mm_load_si128(reinterpret_cast<const __m128i*>(t0));
          l1 = _mm_load_si128(reinterpret_cast<const __m128i*>(t1));
        }
        const __m256i a0 = _mm256_cvtepi8_epi16(l0);
        const __m256i a1 = _mm256_cvtepi8_epi16(l1);
        acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(a0, a1),
                                                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp))));
        acc_hi = _mm256_add_epi32(acc_hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(a0, a1),
                                                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 16))));
      }
      // acc_lo holds channels 0-3 and 8-11, acc_hi 4-7 and 12-15 (vpunpck works within 128-bit lanes).
      const __m256i v0 = _mm256_permute2x128_si256(acc_lo, acc_hi, 0x20);
      const __m256i v1 = _mm256_permute2x128_si256(acc_lo, acc_hi, 0x31);
      const __m256 b0 = bias ? _mm256_loadu_ps(bias + c0) : _mm256_setzero_ps();
      const __m256 b1 = bias ? _mm256_loadu_ps(bias + c0 + 8) : _mm256_setzero_ps();
      const __m256 f0 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v0), _mm256_loadu_ps(scale + c0)), b0);
      const __m256 f1 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v1), _mm256_loadu_ps(scale + c0 + 8)), b1);
      if (c0 + kTile <= C) {
        _mm256_storeu_ps(y + c0, f0);
        _mm256_storeu_ps(y + c0 + 8, f1);
      } else {
        alignas(32) float tmp[kTile];
        _mm256_store_ps(tmp, f0);
        _mm256_store_ps(tmp + 8, f1);
        std::memcpy(y + c0, tmp, sizeof(float) * (C - c0));
      }
    }
  }
}

}  // namespace nnslim
