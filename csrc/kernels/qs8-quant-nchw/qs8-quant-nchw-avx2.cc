// AVX2 NCHW -> NHWC static quantizer, as the AVX-512 one (qs8-quant-nchw-avx512.cc): 16 pixels a
// step, each channel plane quantized with the same operations as the scalar kernel (NaN -> the low
// clamp through max's second operand, round to nearest even, saturating packs = the [-128, 127]
// clamp), then interleaved into NHWC: with pshufb for RGB, through a small block otherwise.
#include <immintrin.h>

#include "../common/finish-avx2-inl.h"
#include "nnslim/ref.h"
#include "qs8-quant-nchw-rgb-inl.h"
#include "qs8-quant-nchw.h"

namespace nnslim {

namespace {

struct Quantizer {
  __m256 sign = _mm256_set1_ps(-0.f), fmax = _mm256_set1_ps(3.40282347e38f), inv;
  __m256 lo = _mm256_set1_ps(-ref::kStaticClamp), hi = _mm256_set1_ps(ref::kStaticClamp);
  __m256i zp;
  Quantizer(float inv_scale, int32_t zero_point) : inv(_mm256_set1_ps(inv_scale)), zp(_mm256_set1_epi32(zero_point)) {}

  // 8 values (n valid: the rest read as 0 and are discarded) -> 8 int32 before the int8 clamp;
  // non-finite inputs set *bad.
  __m256i eight(const float* x, int n, int* bad) const {
    const __m256 xv = n >= 8 ? _mm256_loadu_ps(x)
                             : _mm256_maskload_ps(x, _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
                                                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    *bad |= _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, xv), fmax, _CMP_NLE_UQ));
    const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(xv, inv), lo), hi);  // NaN -> lo, as ref
    return _mm256_add_epi32(_mm256_cvtps_epi32(v), zp);
  }
  // 16 values (n valid) -> 16 int8.
  __m128i operator()(const float* x, int n, int* bad) const {
    const __m256i a = eight(x, n, bad), b = n > 8 ? eight(x + 8, n - 8, bad) : _mm256_setzero_si256();
    return finish_pack16_s8(a, b);
  }
};

}  // namespace

void nnslim_qs8_quant_nchw__avx2(const float* x, int C, int64_t HW, int64_t p0, int64_t p1, float inv_scale,
                                 int32_t zero_point, int8_t* q, bool* bad) {
  const Quantizer quant(inv_scale, zero_point);
  int badm = 0;
  int64_t p = p0;
  if (C == 3) {
    const Rgb rgb;
    for (; p + 16 <= p1; p += 16) {
      const __m128i r = quant(x + p, 16, &badm), g = quant(x + HW + p, 16, &badm), b = quant(x + 2 * HW + p, 16, &badm);
      rgb.store(r, g, b, q + p * 3);
    }
  }
  // Any C (and RGB's last pixels): each channel's 16 values into a block, then interleaved.
  alignas(16) int8_t blk[16];
  for (; p < p1; p += 16) {
    const int n = p1 - p < 16 ? int(p1 - p) : 16;
    for (int c = 0; c < C; ++c) {
      _mm_store_si128(reinterpret_cast<__m128i*>(blk), quant(x + c * HW + p, n, &badm));
      for (int i = 0; i < n; ++i) q[(p + i) * C + c] = blk[i];
    }
  }
  if (badm) *bad = true;
}

}  // namespace nnslim
