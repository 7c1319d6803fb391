// AVX-512 pieces of an int8 node's output epilogue (residual add, activation, requantization), shared
// by the block finisher (qs8-requant-avx512.cc) and the GEMM epilogue that fuses them
// (qs8-epilogue-avx512-inl.h). Same float operations, in the same order, as the scalar finisher;
// comparisons and blends instead of max / min keep its NaN and -0.0 behaviour.
// Internal linkage only: every includer is an AVX-512 file.
#pragma once
#ifdef __AVX512F__
#include <immintrin.h>

#include <cmath>

#include "finish-bounds-inl.h"
#include "nnslim/postop.h"
#include "nnslim/ref.h"

namespace nnslim {
namespace {

// v < lo ? lo : (v > hi ? hi : v)
inline __m512 finish_clamp512(__m512 v, __m512 lo, __m512 hi) {
  const __mmask16 below = _mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ);
  const __mmask16 above = _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ);
  return _mm512_mask_blend_ps(below, _mm512_mask_blend_ps(above, v, hi), lo);
}

// y + residual[base .. base + 16) (masked), as op describes it.
inline __m512 finish_residual512(__m512 y, const PostOp& op, size_t base, __mmask16 mk) {
  if (op.residual) return _mm512_add_ps(y, _mm512_maskz_loadu_ps(mk, op.residual + base));
  if (op.residual_q) {
    const __m512i q = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mk, op.residual_q + base));
    const __m512 r = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, _mm512_set1_epi32(op.res_zero_point))),
                                   _mm512_set1_ps(op.res_scale));
    return _mm512_add_ps(y, r);
  }
  return y;
}

inline __m512 finish_activate512(__m512 y, const PostOp& op) {
  const __m512 zero = _mm512_setzero_ps();
  switch (op.act) {
    case Activation::none:
      return y;
    case Activation::relu:
      return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, zero, _CMP_LT_OQ), y, zero);
    case Activation::clamp:
      return finish_clamp512(y, _mm512_set1_ps(op.lo), _mm512_set1_ps(op.hi));
    case Activation::hardswish: {
      const __m512 t = finish_clamp512(_mm512_add_ps(y, _mm512_set1_ps(3.f)), zero, _mm512_set1_ps(6.f));
      return _mm512_div_ps(_mm512_mul_ps(y, t), _mm512_set1_ps(6.f));
    }
    case Activation::hardsigmoid: {
      const __m512 t = finish_clamp512(_mm512_add_ps(y, _mm512_set1_ps(3.f)), zero, _mm512_set1_ps(6.f));
      return _mm512_div_ps(t, _mm512_set1_ps(6.f));
    }
  }
  return y;
}

// NaN -> 0, +-Inf -> +-FLT_MAX, then the static quantizer: 16 int8 values in the low 128 bits.
inline __m128i finish_requant512(__m512 y, const Requant& rq) {
  y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, y, _CMP_UNORD_Q), y, _mm512_setzero_ps());
  // +-Inf -> +-FLT_MAX matters only when FLT_MAX * inv_scale stays inside the +-kStaticClamp clamp
  // below (an output scale above ~3e35); otherwise both saturate alike. No NaN is left, so max /
  // min are exact.
  if (rq.inv_scale < 1e-30f)
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(-3.40282347e38f)), _mm512_set1_ps(3.40282347e38f));
  const __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(y, _mm512_set1_ps(rq.inv_scale)),
                                               _mm512_set1_ps(-ref::kStaticClamp)),
                                 _mm512_set1_ps(ref::kStaticClamp));
  const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(t), _mm512_set1_epi32(rq.zero_point));  // RNE, as nearbyint
  return _mm512_cvtsepi32_epi8(q);  // signed saturation = the clamp to [-128, 127]
}

// finish_requant512_finite of 32 values (y0: the first 16, y1: the next) as 32 int8 in order
// (finish_pack_pair_s16, then finish_pair_s16_to_s8), with fewer instructions: the zero point is added after a saturating pack to int16, so only the upper
// clamp stays (a value below -kStaticClamp, or one that converts to INT_MIN, saturates to -32768 and
// ends at -128 as the clamped one does; above kStaticClamp the conversion would wrap, so that clamp
// remains), and two packs and one permute replace two 2-uop vpmovsdb.
inline __m512i finish_pack_pair_s16(__m512 y0, __m512 y1, const Requant& rq) {
  const __m512 inv = _mm512_set1_ps(rq.inv_scale), hi = _mm512_set1_ps(ref::kStaticClamp);
  const __m512i q0 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_mul_ps(y0, inv), hi));  // RNE, as nearbyint
  const __m512i q1 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_mul_ps(y1, inv), hi));
  return _mm512_packs_epi32(q0, q1);  // per 128-bit lane k: q0[4k..4k+3], q1[4k..4k+3] as int16
}

// int16 (as finish_pack_pair_s16 left them) + zero point -> 32 int8 in order.
inline __m256i finish_pair_s16_to_s8(__m512i w, const Requant& rq) {
  w = _mm512_adds_epi16(w, _mm512_set1_epi16(int16_t(rq.zero_point)));
  const __m512i b = _mm512_packs_epi16(w, w);
  // Dword 4k of b holds q0's group k, dword 4k + 1 q1's: gather q0's four groups, then q1's.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, b));
}

inline __m256i finish_requant512_finite_pair(__m512 y0, __m512 y1, const Requant& rq) {
  return finish_pair_s16_to_s8(finish_pack_pair_s16(y0, y1, rq), rq);
}

// finish_requant512_finite_pair of a ReLU / clamp activation applied after rounding: lo16 / hi16
// are the activation's bounds requantized (requant_bounds_s16). Exact: scaling by a positive inverse
// and rounding are monotone, so they commute with the clamp; where the activation's bounds fall
// outside the +-kStaticClamp range both orders end past the int8 range on the same side.
inline __m256i finish_requant512_finite_pair_clamped(__m512 y0, __m512 y1, const Requant& rq, __m512i lo16,
                                                     __m512i hi16) {
  const __m512i w = _mm512_min_epi16(_mm512_max_epi16(finish_pack_pair_s16(y0, y1, rq), lo16), hi16);
  return finish_pair_s16_to_s8(w, rq);
}

// Lanes (of mask m) of v whose magnitude exceeds kFiniteBound or that are NaN.
inline __mmask16 finish_unbounded512(__m512 v, __mmask16 m = 0xFFFF) {
  return _mm512_mask_cmp_ps_mask(m, _mm512_andnot_ps(_mm512_set1_ps(-0.f), v), _mm512_set1_ps(kFiniteBound),
                                 _CMP_NLE_UQ);
}

// finish_requant512 for values known to be finite (no NaN to zero, no infinity to clamp first): the
// same result on such values with three fewer instructions.
inline __m128i finish_requant512_finite(__m512 y, const Requant& rq) {
  const __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(y, _mm512_set1_ps(rq.inv_scale)),
                                               _mm512_set1_ps(-ref::kStaticClamp)),
                                 _mm512_set1_ps(ref::kStaticClamp));
  const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(t), _mm512_set1_epi32(rq.zero_point));
  return _mm512_cvtsepi32_epi8(q);
}

}  // namespace
}  // namespace nnslim
#endif  // __AVX512F__
