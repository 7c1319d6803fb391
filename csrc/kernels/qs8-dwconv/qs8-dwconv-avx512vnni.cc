// AVX-512 VNNI depthwise int8 kernel, 32 channels per step. As on AVX2, two taps are interleaved
// per 16-bit lane pair, but vpdpwssd multiplies both and accumulates in one instruction. vpunpck
// works within 128-bit lanes, so the two accumulators hold channels in lane order
// (lo: 0-3, 8-11, 16-19, 24-27; hi: 4-7, ...); one vpermt2q per half restores channel order.
// Weights are packed per 32-channel block and tap pair: the vpunpcklwd half, then the vpunpckhwd half.
#include <immintrin.h>

#include "qs8-dwconv.h"

namespace nnslim {

namespace {
constexpr int kTile = 32;
inline int pairs(int taps) { return (taps + 1) / 2; }
}  // namespace

// Weights come packed by the portable pack_tap_pairs (dispatch/qs8-dwconv.cc) in this kernel's order.
void nnslim_qs8_dwconv_ukernel__avx512vnni(const PackedDw& w, const int8_t* const* rows, int count,
                                           const float* scale, const float* bias, float* out, size_t ldo) {
  const int C = w.C, taps = w.taps, P = pairs(taps);
  const int16_t* wbase = w.data.data();
  // 64-bit lane indices: channels 0-15 = lo.q0 lo.q1 hi.q0 hi.q1 lo.q2 lo.q3 hi.q2 hi.q3, etc.
  const __m512i idx0 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
  const __m512i idx1 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
  for (int i = 0; i < count; ++i) {
    const int8_t* const* r = rows + size_t(i) * taps;
    float* y = out + size_t(i) * ldo;
    for (int c0 = 0; c0 < C; c0 += kTile) {
      const int16_t* wp = wbase + size_t(c0 / kTile) * P * 64;
      const int cn = C - c0 < kTile ? C - c0 : kTile;  // rows hold C bytes: mask the last block's loads
      const __mmask32 mk = cn == kTile ? ~__mmask32(0) : (__mmask32(1) << cn) - 1;
      __m512i acc_lo = _mm512_setzero_si512(), acc_hi = _mm512_setzero_si512();
      for (int p = 0; p < P; ++p, wp += 64) {
        const int8_t* x0 = r[2 * p] + c0;
        // An odd last tap pairs with itself: its packed weight is zero.
        const int8_t* x1 = (2 * p + 1 < taps ? r[2 * p + 1] : r[2 * p]) + c0;
        const __m512i a0 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mk, x0));
        const __m512i a1 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mk, x1));
        acc_lo = _mm512_dpwssd_epi32(acc_lo, _mm512_unpacklo_epi16(a0, a1), _mm512_loadu_si512(wp));
        acc_hi = _mm512_dpwssd_epi32(acc_hi, _mm512_unpackhi_epi16(a0, a1), _mm512_loadu_si512(wp + 32));
      }
      const __m512i v0 = _mm512_permutex2var_epi64(acc_lo, idx0, acc_hi);
      const __m512i v1 = _mm512_permutex2var_epi64(acc_lo, idx1, acc_hi);
      const __mmask16 m0 = __mmask16(mk), m1 = __mmask16(mk >> 16);
      const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias + c0) : _mm512_setzero_ps();
      const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + c0 + 16) : _mm512_setzero_ps();
      const __m512 f0 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v0), _mm512_maskz_loadu_ps(m0, scale + c0)), b0);
      const __m512 f1 =
          _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v1), _mm512_maskz_loadu_ps(m1, scale + c0 + 16)), b1);
      _mm512_mask_storeu_ps(y + c0, m0, f0);
      _mm512_mask_storeu_ps(y + c0 + 16, m1, f1);
    }
  }
}

}  // namespace nnslim
