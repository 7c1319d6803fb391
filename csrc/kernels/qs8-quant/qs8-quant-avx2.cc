// AVX2 per-row quantization; the tail of each row goes through a small zero-padded copy.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "nnslim/ref.h"
#include "qs8-quant.h"

namespace nnslim {

static void quant_row(const float* x, int K, int Kp, int8_t* q, float* scale) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  const __m256 fmax = _mm256_set1_ps(3.40282347e38f);
  __m256 vmax = _mm256_setzero_ps();
  __m256 bad = _mm256_setzero_ps();
  const int Kv = K & ~7;
  float tail[8];
  for (int k = 0; k < K; k += 8) {
    const float* src = x + k;
    if (k >= Kv) {
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, x + k, sizeof(float) * (K - k));
      src = tail;
    }
    const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(src));
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, fmax, _CMP_NLE_UQ));
    vmax = _mm256_max_ps(vmax, a);
  }
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
  const float amax = _mm_cvtss_f32(m4);
  const bool nonfinite = _mm256_movemask_ps(bad) != 0;
  if (nonfinite || !(amax >= ref::kTinyAmax)) {
    *scale = nonfinite ? std::nanf("") : 0.f;
    std::memset(q, 0, Kp);
    return;
  }
  const __m256 inv = _mm256_set1_ps(127.f / amax);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  for (int k = 0; k < K; k += 8) {
    const float* src = x + k;
    if (k >= Kv) {
      std::memset(tail, 0, sizeof tail);
      std::memcpy(tail, x + k, sizeof(float) * (K - k));
      src = tail;
    }
    __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src), inv));  // RNE
    v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
    // int32 -> int8 without saturation surprises: values are already in [-127, 127].
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const __m128i b = _mm_packs_epi16(w, w);
    int8_t out[16];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), b);
    std::memcpy(q + k, out, K - k >= 8 ? 8 : K - k);
  }
  if (Kp > K) std::memset(q + K, 0, Kp - K);
  *scale = amax / 127.f;
}

void nnslim_qs8_quant_rows__avx2(const float* X, size_t ldx, int m0, int m1, int K, int Kp, int8_t* Q,
                                 size_t ldq, float* scales) {
  for (int m = m0; m < m1; ++m) quant_row(X + m * ldx, K, Kp, Q + m * ldq, scales + m);
}

// ref::qs8_quantize_row_q7: min / max (0 included, so the zero-padded tail changes neither), then
// codes with the row's zero point.
static void quant_row_q7(const float* x, int K, int Kp, bool unsigned_codes, int8_t* q, float* scale,
                         int32_t* zero_point) {
  const __m256 sign = _mm256_set1_ps(-0.f), fmax = _mm256_set1_ps(3.40282347e38f);
  __m256 vmin = _mm256_setzero_ps(), vmax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
  const int Kv = K & ~7;
  float tail[8];
  auto at = [&](int k) {  // 8 values from k, zeros past K
    if (k < Kv) return _mm256_loadu_ps(x + k);
    std::memset(tail, 0, sizeof tail);
    std::memcpy(tail, x + k, sizeof(float) * (K - k));
    return _mm256_loadu_ps(tail);
  };
  for (int k = 0; k < K; k += 8) {
    const __m256 v = at(k);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_andnot_ps(sign, v), fmax, _CMP_NLE_UQ));
    vmin = _mm256_min_ps(vmin, v);
    vmax = _mm256_max_ps(vmax, v);
  }
  __m128 lo4 = _mm_min_ps(_mm256_castps256_ps128(vmin), _mm256_extractf128_ps(vmin, 1));
  lo4 = _mm_min_ps(lo4, _mm_movehl_ps(lo4, lo4));
  lo4 = _mm_min_ss(lo4, _mm_shuffle_ps(lo4, lo4, 1));
  __m128 hi4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  hi4 = _mm_max_ps(hi4, _mm_movehl_ps(hi4, hi4));
  hi4 = _mm_max_ss(hi4, _mm_shuffle_ps(hi4, hi4, 1));
  const float lo = _mm_cvtss_f32(lo4), hi = _mm_cvtss_f32(hi4);
  float inv_s;
  if (!ref::q7_begin_row(_mm256_movemask_ps(bad) != 0, lo, hi, Kp, q, scale, zero_point, &inv_s)) return;
  const int32_t zp = *zero_point;
  const __m256 inv = _mm256_set1_ps(inv_s);
  const __m256i vzp = _mm256_set1_epi32(zp), u_lo = _mm256_setzero_si256(), u_hi = _mm256_set1_epi32(127);
  const __m256i shift = unsigned_codes ? _mm256_setzero_si256() : vzp;
  for (int k = 0; k < K; k += 8) {
    __m256i u = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(at(k), inv)), vzp);  // RNE
    u = _mm256_sub_epi32(_mm256_min_epi32(_mm256_max_epi32(u, u_lo), u_hi), shift);  // in [-127, 127]
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
    const __m128i b = _mm_packs_epi16(w, w);
    int8_t out[16];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), b);
    std::memcpy(q + k, out, K - k >= 8 ? 8 : K - k);
  }
  if (!unsigned_codes) *zero_point = 0;
}

void nnslim_qs8_quant_rows_q7__avx2(const float* X, size_t ldx, int m0, int m1, int K, int Kp, bool unsigned_codes,
                                    int8_t* Q, size_t ldq, float* scales, int32_t* zero_points) {
  for (int m = m0; m < m1; ++m)
    quant_row_q7(X + m * ldx, K, Kp, unsigned_codes, Q + m * ldq, scales + m, zero_points + m);
}

void nnslim_qs8_quant_rows_static__avx2(const float* X, size_t ldx, int m0, int m1, int K, int Kp, float scale,
                                        float inv_scale, int32_t zero_point, int8_t* Q, size_t ldq,
                                        float* row_scales) {
  const __m256 sign = _mm256_set1_ps(-0.f), fmax = _mm256_set1_ps(3.40282347e38f);
  const __m256 inv = _mm256_set1_ps(inv_scale);
  const __m256 lo = _mm256_set1_ps(-ref::kStaticClamp), hi = _mm256_set1_ps(ref::kStaticClamp);
  const __m256i zp = _mm256_set1_epi32(zero_point);
  const int Kv = K & ~7;
  for (int m = m0; m < m1; ++m) {
    const float* x = X + m * ldx;
    int8_t* q = Q + m * ldq;
    __m256 bad = _mm256_setzero_ps();
    for (int k = 0; k < Kv; k += 8) {
      const __m256 xv = _mm256_loadu_ps(x + k);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_andnot_ps(sign, xv), fmax, _CMP_NLE_UQ));
      // max(v, lo) returns lo for NaN v, as ref.
      const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(xv, inv), lo), hi);
      const __m256i r = _mm256_add_epi32(_mm256_cvtps_epi32(v), zp);
      // Saturating packs clamp to [-128, 127], matching ref's clamp.
      const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
      const __m128i b = _mm_packs_epi16(w, w);
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + k), b);
    }
    float tail_scale;
    bool tail_bad = false;
    if (Kv < K) {
      ref::qs8_quantize_row_static(x + Kv, K - Kv, K - Kv, scale, inv_scale, zero_point, q + Kv, &tail_scale);
      tail_bad = tail_scale != tail_scale;
    }
    if (Kp > K) std::memset(q + K, 0, Kp - K);
    if (_mm256_movemask_ps(bad) != 0 || tail_bad) {
      std::memset(q, static_cast<int8_t>(zero_point), K);
      row_scales[m] = std::nanf("");
    } else {
      row_scales[m] = scale;
    }
  }
}

}  // namespace nnslim
