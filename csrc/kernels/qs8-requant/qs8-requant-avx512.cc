// AVX-512 block finishing, 16 channels per step with masked tails. Comparisons and blends instead
// of max / min keep the scalar kernel's NaN and -0.0 behaviour exactly.
#include <immintrin.h>

#include "nnslim/ref.h"
#include "qs8-requant.h"

namespace nnslim {

namespace {

// v < lo ? lo : (v > hi ? hi : v)
inline __m512 clamp_like_ref(__m512 v, __m512 lo, __m512 hi) {
  const __mmask16 below = _mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ);
  const __mmask16 above = _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ);
  return _mm512_mask_blend_ps(below, _mm512_mask_blend_ps(above, v, hi), lo);
}

inline __m512 activate(__m512 y, const PostOp& op) {
  const __m512 zero = _mm512_setzero_ps();
  switch (op.act) {
    case Activation::none:
      return y;
    case Activation::relu:
      return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, zero, _CMP_LT_OQ), y, zero);
    case Activation::clamp:
      return clamp_like_ref(y, _mm512_set1_ps(op.lo), _mm512_set1_ps(op.hi));
    case Activation::hardswish: {
      const __m512 t = clamp_like_ref(_mm512_add_ps(y, _mm512_set1_ps(3.f)), zero, _mm512_set1_ps(6.f));
      return _mm512_div_ps(_mm512_mul_ps(y, t), _mm512_set1_ps(6.f));
    }
    case Activation::hardsigmoid: {
      const __m512 t = clamp_like_ref(_mm512_add_ps(y, _mm512_set1_ps(3.f)), zero, _mm512_set1_ps(6.f));
      return _mm512_div_ps(t, _mm512_set1_ps(6.f));
    }
  }
  return y;
}

}  // namespace

void nnslim_qs8_finish_block__avx512(float* block, size_t ldb, int rows, int cols, const PostOp& op, int64_t row0,
                                     int col0, const Requant* rq, int8_t* yq, size_t ldy) {
  const __m512 fmax = _mm512_set1_ps(3.40282347e38f), fmin = _mm512_set1_ps(-3.40282347e38f);
  const __m512 qmax = _mm512_set1_ps(ref::kStaticClamp), qmin = _mm512_set1_ps(-ref::kStaticClamp);
  const __m512 inv = _mm512_set1_ps(rq ? rq->inv_scale : 1.f);
  const __m512i zp = _mm512_set1_epi32(rq ? rq->zero_point : 0);
  const __m512i lo8 = _mm512_set1_epi32(-128), hi8 = _mm512_set1_epi32(127);
  const __m512 rs = _mm512_set1_ps(op.res_scale);
  const __m512i rzp = _mm512_set1_epi32(op.res_zero_point);
  for (int r = 0; r < rows; ++r) {
    float* row = block + size_t(r) * ldb;
    const size_t base = size_t(row0 + r) * op.ldr + col0;
    for (int c = 0; c < cols; c += 16) {
      const __mmask16 mk = cols - c >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (cols - c)) - 1);
      __m512 y = _mm512_maskz_loadu_ps(mk, row + c);
      if (op.residual) {
        y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(mk, op.residual + base + c));
      } else if (op.residual_q) {
        const __m512i q = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mk, op.residual_q + base + c));
        y = _mm512_add_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, rzp)), rs));
      }
      y = activate(y, op);
      if (!rq) {
        _mm512_mask_storeu_ps(row + c, mk, y);
        continue;
      }
      y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, y, _CMP_UNORD_Q), y, _mm512_setzero_ps());
      y = _mm512_min_ps(_mm512_max_ps(y, fmin), fmax);  // no NaN left: max / min are exact here
      const __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(y, inv), qmin), qmax);
      __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(t), zp);  // RNE, as nearbyint
      q = _mm512_min_epi32(_mm512_max_epi32(q, lo8), hi8);
      _mm_mask_storeu_epi8(yq + size_t(r) * ldy + c, mk, _mm512_cvtepi32_epi8(q));
    }
  }
}

}  // namespace nnslim
