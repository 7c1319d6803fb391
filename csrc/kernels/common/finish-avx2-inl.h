// AVX2 pieces of an int8 node's output epilogue (residual add, activation, requantization), shared
// by the block finisher (qs8-requant-avx2.cc) and the GEMM epilogue that fuses them
// (qs8-gemm-avx2.cc). Same float operations, in the same order, as the scalar finisher; compares
// and blends instead of max / min keep its NaN and -0.0 behaviour. 8 values per step.
// Internal linkage only: every includer is an AVX2 file.
#pragma once
#ifdef __AVX2__
#include <immintrin.h>

#include "finish-bounds-inl.h"
#include "nnslim/postop.h"
#include "nnslim/ref.h"

namespace nnslim {
namespace {

// v < lo ? lo : (v > hi ? hi : v)
inline __m256 finish_clamp256(__m256 v, __m256 lo, __m256 hi) {
  const __m256 below = _mm256_cmp_ps(v, lo, _CMP_LT_OQ);
  const __m256 above = _mm256_cmp_ps(v, hi, _CMP_GT_OQ);
  return _mm256_blendv_ps(_mm256_blendv_ps(v, hi, above), lo, below);
}

// y + residual[base .. base + 8), as op describes it.
inline __m256 finish_residual256(__m256 y, const PostOp& op, size_t base) {
  if (op.residual) return _mm256_add_ps(y, _mm256_loadu_ps(op.residual + base));
  if (op.residual_q) {
    const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(op.residual_q + base)));
    return _mm256_add_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, _mm256_set1_epi32(op.res_zero_point))),
                                          _mm256_set1_ps(op.res_scale)));
  }
  return y;
}

inline __m256 finish_activate256(__m256 y, const PostOp& op) {
  const __m256 zero = _mm256_setzero_ps();
  switch (op.act) {
    case Activation::none:
      return y;
    case Activation::relu:
      return _mm256_blendv_ps(y, zero, _mm256_cmp_ps(y, zero, _CMP_LT_OQ));
    case Activation::clamp:
      return finish_clamp256(y, _mm256_set1_ps(op.lo), _mm256_set1_ps(op.hi));
    case Activation::hardswish: {
      const __m256 t = finish_clamp256(_mm256_add_ps(y, _mm256_set1_ps(3.f)), zero, _mm256_set1_ps(6.f));
      return _mm256_div_ps(_mm256_mul_ps(y, t), _mm256_set1_ps(6.f));
    }
    case Activation::hardsigmoid: {
      const __m256 t = finish_clamp256(_mm256_add_ps(y, _mm256_set1_ps(3.f)), zero, _mm256_set1_ps(6.f));
      return _mm256_div_ps(t, _mm256_set1_ps(6.f));
    }
  }
  return y;
}

// NaN -> 0, +-Inf -> +-FLT_MAX, then the static quantizer up to the zero point: 8 int32 values that
// the saturating packs (finish_pack16_s8) clamp to [-128, 127].
inline __m256i finish_requant256(__m256 y, const Requant& rq) {
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(y, y, _CMP_UNORD_Q));
  // +-Inf -> +-FLT_MAX matters only for output scales above ~3e35 (see finish-avx512-inl.h); no NaN
  // is left, so max / min are exact.
  if (rq.inv_scale < 1e-30f)
    y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(-3.40282347e38f)), _mm256_set1_ps(3.40282347e38f));
  const __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(y, _mm256_set1_ps(rq.inv_scale)),
                                               _mm256_set1_ps(-ref::kStaticClamp)),
                                 _mm256_set1_ps(ref::kStaticClamp));
  return _mm256_add_epi32(_mm256_cvtps_epi32(t), _mm256_set1_epi32(rq.zero_point));  // RNE, as nearbyint
}

// 8 int32 -> 8 int8 in the low 64 bits, saturating (= the clamp to [-128, 127]).
inline __m128i finish_pack8_s8(__m256i q) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return _mm_packs_epi16(w, w);
}

// 16 int16 -> 16 int8, saturating, the low 128 bits first.
inline __m128i finish_s16_halves_to_s8(__m256i w) {
  return _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

// 16 int32 (q0: the first 8, q1: the next) -> 16 int8 in order, saturating as finish_pack8_s8.
inline __m128i finish_pack16_s8(__m256i q0, __m256i q1) {
  // packs works within 128-bit lanes: [q0 lo, q1 lo, q0 hi, q1 hi] as int16, put back in order.
  return finish_s16_halves_to_s8(_mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8));
}

// The in-order forms: 16 values whose two 8-lane halves hold channels (0-3, 8-11) and (4-7, 12-15),
// the order vpunpck{l,h}wd accumulators come in. vpackssdw of two such halves is channels 0..15 in
// order, so where finish_pack16_s8 / finish_pair_s16_to_s8_256 restore the order with vpermq these
// skip it; the values are the same, lane by lane.
inline __m128i finish_pack16_s8_inorder(__m256i q0, __m256i q1) {
  return finish_s16_halves_to_s8(_mm256_packs_epi32(q0, q1));
}

// int16 in channel order + zero point -> 16 int8.
inline __m128i finish_s16_to_s8_inorder(__m256i w, const Requant& rq) {
  return finish_s16_halves_to_s8(_mm256_adds_epi16(w, _mm256_set1_epi16(int16_t(rq.zero_point))));
}

// Whether any lane of v is NaN or has a magnitude above kFiniteBound.
inline bool finish_unbounded256(__m256 v) {
  return _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), v), _mm256_set1_ps(kFiniteBound),
                                          _CMP_NLE_UQ)) != 0;
}

// finish_requant256 of 16 values known to be finite (y0: the first 8, y1: the next), as int16 in
// the lane order of packs (finish_pair_s16_to_s8 restores it): the zero point is added after the
// saturating pack to int16, so only the upper clamp stays (a value below -kStaticClamp, or one that
// converts to INT_MIN, saturates to -32768 and ends at -128 as the clamped one does; above
// kStaticClamp the conversion would wrap, so that clamp remains). As finish_pack_pair_s16 in
// finish-avx512-inl.h.
inline __m256i finish_pack_pair_s16_256(__m256 y0, __m256 y1, const Requant& rq) {
  const __m256 inv = _mm256_set1_ps(rq.inv_scale), hi = _mm256_set1_ps(ref::kStaticClamp);
  const __m256i q0 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_mul_ps(y0, inv), hi));  // RNE, as nearbyint
  const __m256i q1 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_mul_ps(y1, inv), hi));
  return _mm256_packs_epi32(q0, q1);  // per 128-bit lane k: q0[4k..4k+3], q1[4k..4k+3]
}

// int16 (as finish_pack_pair_s16_256 left them) + zero point -> 16 int8 in order.
// (The zero point is added lane by lane, so before or after the reorder gives the same values.)
inline __m128i finish_pair_s16_to_s8_256(__m256i w, const Requant& rq) {
  return finish_s16_to_s8_inorder(_mm256_permute4x64_epi64(w, 0xD8), rq);
}

// The finite pair with a ReLU / clamp activation run on the rounded int16 values (lo16 / hi16 from
// requant_act_bounds_s16): exact, as finish_requant512_finite_pair_clamped.
inline __m128i finish_requant256_finite_pair_clamped(__m256 y0, __m256 y1, const Requant& rq, __m256i lo16,
                                                     __m256i hi16) {
  const __m256i w = _mm256_min_epi16(_mm256_max_epi16(finish_pack_pair_s16_256(y0, y1, rq), lo16), hi16);
  return finish_pair_s16_to_s8_256(w, rq);
}

}  // namespace
}  // namespace nnslim
#endif  // __AVX2__
