// AVX-512 NCHW -> NHWC static quantizer: 16 pixels a step, each channel plane quantized as the
// AVX-512 row quantizer does (same operations, so the same bytes), then interleaved into NHWC: with
// pshufb for RGB (3 channels, the stem of nearly every CNN), through a small block otherwise.
#include <immintrin.h>

#include <cstring>

#include "nnslim/ref.h"
#include "qs8-quant-nchw-rgb-inl.h"
#include "qs8-quant-nchw.h"

namespace nnslim {

namespace {

struct Quantizer {
  __m512 sign = _mm512_set1_ps(-0.f), fmax = _mm512_set1_ps(3.40282347e38f), inv;
  __m512 lo = _mm512_set1_ps(-ref::kStaticClamp), hi = _mm512_set1_ps(ref::kStaticClamp);
  __m512i zp, qlo = _mm512_set1_epi32(-128), qhi = _mm512_set1_epi32(127);
  Quantizer(float inv_scale, int32_t zero_point) : inv(_mm512_set1_ps(inv_scale)), zp(_mm512_set1_epi32(zero_point)) {}

  // 16 (masked) values -> 16 int8; non-finite inputs set bits of *bad.
  __m128i operator()(const float* x, __mmask16 mk, __mmask16* bad) const {
    const __m512 xv = _mm512_maskz_loadu_ps(mk, x);
    *bad |= _mm512_mask_cmp_ps_mask(mk, _mm512_andnot_ps(sign, xv), fmax, _CMP_NLE_UQ);
    const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(xv, inv), lo), hi);  // NaN -> lo, as ref
    __m512i r = _mm512_add_epi32(_mm512_cvtps_epi32(v), zp);
    r = _mm512_min_epi32(_mm512_max_epi32(r, qlo), qhi);
    return _mm512_cvtepi32_epi8(r);
  }
};

}  // namespace

void nnslim_qs8_quant_nchw__avx512(const float* x, int C, int64_t HW, int64_t p0, int64_t p1, float inv_scale,
                                   int32_t zero_point, int8_t* q, bool* bad) {
  const Quantizer quant(inv_scale, zero_point);
  __mmask16 badm = 0;
  int64_t p = p0;
  if (C == 3) {
    const Rgb rgb;
    for (; p + 16 <= p1; p += 16) {
      const __m128i r = quant(x + p, 0xFFFF, &badm), g = quant(x + HW + p, 0xFFFF, &badm),
                    b = quant(x + 2 * HW + p, 0xFFFF, &badm);
      rgb.store(r, g, b, q + p * 3);
    }
  }
  // Any C (and RGB's last pixels): each channel's 16 values into a block, then interleaved.
  alignas(16) int8_t blk[16];
  for (; p < p1; p += 16) {
    const int n = p1 - p < 16 ? int(p1 - p) : 16;
    const __mmask16 mk = n == 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
    for (int c = 0; c < C; ++c) {
      _mm_store_si128(reinterpret_cast<__m128i*>(blk), quant(x + c * HW + p, mk, &badm));
      for (int i = 0; i < n; ++i) q[(p + i) * C + c] = blk[i];
    }
  }
  if (badm) *bad = true;
}

}  // namespace nnslim
