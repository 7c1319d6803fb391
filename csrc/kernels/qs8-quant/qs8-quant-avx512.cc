// AVX-512 per-row quantization: one pass for max |x| (and a non-finite flag), one to scale and round.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "nnslim/ref.h"
#include "qs8-quant.h"

namespace nnslim {

static void quant_row(const float* x, int K, int Kp, int8_t* q, float* scale) {
  const __m512 sign = _mm512_set1_ps(-0.f);
  const __m512 fmax = _mm512_set1_ps(3.40282347e38f);
  __m512 vmax = _mm512_setzero_ps();
  __mmask16 bad = 0;
  for (int k = 0; k < K; k += 16) {
    const __mmask16 mk = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (K - k)) - 1);
    const __m512 a = _mm512_andnot_ps(sign, _mm512_maskz_loadu_ps(mk, x + k));
    bad |= _mm512_mask_cmp_ps_mask(mk, a, fmax, _CMP_NLE_UQ);  // > FLT_MAX or NaN
    vmax = _mm512_max_ps(vmax, a);
  }
  const float amax = _mm512_reduce_max_ps(vmax);
  if (bad || !(amax >= ref::kTinyAmax)) {
    *scale = bad ? std::nanf("") : 0.f;
    std::memset(q, 0, Kp);
    return;
  }
  const __m512 inv = _mm512_set1_ps(127.f / amax);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int k = 0; k < K; k += 16) {
    const __mmask16 mk = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (K - k)) - 1);
    __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + k), inv));  // RNE
    v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
    _mm_mask_storeu_epi8(q + k, mk, _mm512_cvtepi32_epi8(v));
  }
  if (Kp > K) std::memset(q + K, 0, Kp - K);
  *scale = amax / 127.f;
}

void nnslim_qs8_quant_rows__avx512(const float* X, size_t ldx, int m0, int m1, int K, int Kp, int8_t* Q,
                                   size_t ldq, float* scales) {
  for (int m = m0; m < m1; ++m) quant_row(X + m * ldx, K, Kp, Q + m * ldq, scales + m);
}

// ref::qs8_quantize_row_q7 (masked-off lanes load 0, which min / max with 0 included ignore).
static void quant_row_q7(const float* x, int K, int Kp, bool unsigned_codes, int8_t* q, float* scale,
                         int32_t* zero_point) {
  const __m512 sign = _mm512_set1_ps(-0.f), fmax = _mm512_set1_ps(3.40282347e38f);
  __m512 vmin = _mm512_setzero_ps(), vmax = _mm512_setzero_ps();
  __mmask16 bad = 0;
  for (int k = 0; k < K; k += 16) {
    const __mmask16 mk = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (K - k)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(mk, x + k);
    bad |= _mm512_mask_cmp_ps_mask(mk, _mm512_andnot_ps(sign, v), fmax, _CMP_NLE_UQ);
    vmin = _mm512_min_ps(vmin, v);
    vmax = _mm512_max_ps(vmax, v);
  }
  const float lo = _mm512_reduce_min_ps(vmin), hi = _mm512_reduce_max_ps(vmax);
  float inv_s;
  if (!ref::q7_begin_row(bad != 0, lo, hi, Kp, q, scale, zero_point, &inv_s)) return;
  const int32_t zp = *zero_point;
  const __m512 inv = _mm512_set1_ps(inv_s);
  const __m512i vzp = _mm512_set1_epi32(zp), u_lo = _mm512_setzero_si512(), u_hi = _mm512_set1_epi32(127);
  const __m512i shift = unsigned_codes ? _mm512_setzero_si512() : vzp;
  for (int k = 0; k < K; k += 16) {
    const __mmask16 mk = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (K - k)) - 1);
    __m512i u = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + k), inv)), vzp);
    u = _mm512_sub_epi32(_mm512_min_epi32(_mm512_max_epi32(u, u_lo), u_hi), shift);
    _mm_mask_storeu_epi8(q + k, mk, _mm512_cvtepi32_epi8(u));
  }
  if (!unsigned_codes) *zero_point = 0;
}

void nnslim_qs8_quant_rows_q7__avx512(const float* X, size_t ldx, int m0, int m1, int K, int Kp, bool unsigned_codes,
                                      int8_t* Q, size_t ldq, float* scales, int32_t* zero_points) {
  for (int m = m0; m < m1; ++m)
    quant_row_q7(X + m * ldx, K, Kp, unsigned_codes, Q + m * ldq, scales + m, zero_points + m);
}

void nnslim_qs8_quant_rows_static__avx512(const float* X, size_t ldx, int m0, int m1, int K, int Kp, float scale,
                                          float inv_scale, int32_t zero_point, int8_t* Q, size_t ldq,
                                          float* row_scales) {
  const __m512 sign = _mm512_set1_ps(-0.f), fmax = _mm512_set1_ps(3.40282347e38f);
  const __m512 inv = _mm512_set1_ps(inv_scale);
  const __m512 lo = _mm512_set1_ps(-ref::kStaticClamp), hi = _mm512_set1_ps(ref::kStaticClamp);
  const __m512i zp = _mm512_set1_epi32(zero_point);
  const __m512i qlo = _mm512_set1_epi32(-128), qhi = _mm512_set1_epi32(127);
  for (int m = m0; m < m1; ++m) {
    const float* x = X + m * ldx;
    int8_t* q = Q + m * ldq;
    __mmask16 bad = 0;
    for (int k = 0; k < K; k += 16) {
      const __mmask16 mk = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (K - k)) - 1);
      const __m512 xv = _mm512_maskz_loadu_ps(mk, x + k);
      bad |= _mm512_mask_cmp_ps_mask(mk, _mm512_andnot_ps(sign, xv), fmax, _CMP_NLE_UQ);
      __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(xv, inv), lo), hi);  // NaN -> lo, as ref
      __m512i r = _mm512_add_epi32(_mm512_cvtps_epi32(v), zp);
      r = _mm512_min_epi32(_mm512_max_epi32(r, qlo), qhi);
      _mm_mask_storeu_epi8(q + k, mk, _mm512_cvtepi32_epi8(r));
    }
    if (Kp > K) std::memset(q + K, 0, Kp - K);
    if (bad) {
      std::memset(q, static_cast<int8_t>(zero_point), K);
      row_scales[m] = std::nanf("");
    } else {
      row_scales[m] = scale;
    }
  }
}

}  // namespace nnslim
