// AVX2 block finishing, 8 channels per step; a row's last cols % 8 channels go to the scalar kernel
// (an out-of-line call into baseline code, never an inline function shared with it).
#include <immintrin.h>

#include "nnslim/ref.h"
#include "qs8-requant.h"

namespace nnslim {

namespace {

// v < lo ? lo : (v > hi ? hi : v)
inline __m256 clamp_like_ref(__m256 v, __m256 lo, __m256 hi) {
  const __m256 below = _mm256_cmp_ps(v, lo, _CMP_LT_OQ);
  const __m256 above = _mm256_cmp_ps(v, hi, _CMP_GT_OQ);
  return _mm256_blendv_ps(_mm256_blendv_ps(v, hi, above), lo, below);
}

inline __m256 activate(__m256 y, const PostOp& op) {
  const __m256 zero = _mm256_setzero_ps();
  switch (op.act) {
    case Activation::none:
      return y;
    case Activation::relu:
      return _mm256_blendv_ps(y, zero, _mm256_cmp_ps(y, zero, _CMP_LT_OQ));
    case Activation::clamp:
      return clamp_like_ref(y, _mm256_set1_ps(op.lo), _mm256_set1_ps(op.hi));
    case Activation::hardswish: {
      const __m256 t = clamp_like_ref(_mm256_add_ps(y, _mm256_set1_ps(3.f)), zero, _mm256_set1_ps(6.f));
      return _mm256_div_ps(_mm256_mul_ps(y, t), _mm256_set1_ps(6.f));
    }
    case Activation::hardsigmoid: {
      const __m256 t = clamp_like_ref(_mm256_add_ps(y, _mm256_set1_ps(3.f)), zero, _mm256_set1_ps(6.f));
      return _mm256_div_ps(t, _mm256_set1_ps(6.f));
    }
  }
  return y;
}

}  // namespace

void nnslim_qs8_finish_block__avx2(float* block, size_t ldb, int rows, int cols, const PostOp& op, int64_t row0,
                                   int col0, const Requant* rq, int8_t* yq, size_t ldy) {
  const __m256 fmax = _mm256_set1_ps(3.40282347e38f), fmin = _mm256_set1_ps(-3.40282347e38f);
  const __m256 qmax = _mm256_set1_ps(ref::kStaticClamp), qmin = _mm256_set1_ps(-ref::kStaticClamp);
  const __m256 inv = _mm256_set1_ps(rq ? rq->inv_scale : 1.f);
  const __m256i zp = _mm256_set1_epi32(rq ? rq->zero_point : 0);
  const __m256 rs = _mm256_set1_ps(op.res_scale);
  const __m256i rzp = _mm256_set1_epi32(op.res_zero_point);
  const int cv = cols & ~7;
  const bool tiny_inv = rq && rq->inv_scale < 1e-30f;
  for (int r = 0; r < rows; ++r) {
    float* row = block + size_t(r) * ldb;
    const size_t base = size_t(row0 + r) * op.ldr + col0;
    for (int c = 0; c < cv; c += 8) {
      __m256 y = _mm256_loadu_ps(row + c);
      if (op.residual) {
        y = _mm256_add_ps(y, _mm256_loadu_ps(op.residual + base + c));
      } else if (op.residual_q) {
        const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(op.residual_q + base + c)));
        y = _mm256_add_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, rzp)), rs));
      }
      y = activate(y, op);
      if (!rq) {
        _mm256_storeu_ps(row + c, y);
        continue;
      }
      y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(y, y, _CMP_UNORD_Q));
      // +-Inf -> +-FLT_MAX matters only for output scales above ~3e35 (see finish-avx512-inl.h).
      if (tiny_inv) y = _mm256_min_ps(_mm256_max_ps(y, fmin), fmax);  // no NaN left: exact
      const __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(y, inv), qmin), qmax);
      const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(t), zp);  // RNE, as nearbyint
      // Saturating packs clamp to [-128, 127], as the scalar kernel does.
      const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(yq + size_t(r) * ldy + c), _mm_packs_epi16(w, w));
    }
  }
  if (cv < cols)
    nnslim_qs8_finish_block__scalar(block + cv, ldb, rows, cols - cv, op, row0, col0 + cv, rq, rq ? yq + cv : yq, ldy);
}

}  // namespace nnslim
