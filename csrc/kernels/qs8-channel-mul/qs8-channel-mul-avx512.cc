// AVX-512 squeeze-excite multiply: 16 channels a step, the scalar kernel's float operations in its
// order, then the shared requantizer (NaN -> zero point, as the block finisher) in registers.
#include <immintrin.h>

#include "../common/finish-avx512-inl.h"
#include "qs8-channel-mul.h"

namespace nnslim {

void nnslim_qs8_channel_mul__avx512(const int8_t* x, int rows, int C, float x_scale, int32_t x_zero_point,
                                    const float* gate, const Requant& rq, int8_t* y) {
  const __m512i zp = _mm512_set1_epi32(x_zero_point);
  const __m512 xs = _mm512_set1_ps(x_scale);
  for (int r = 0; r < rows; ++r) {
    const int8_t* xr = x + size_t(r) * C;
    int8_t* yr = y + size_t(r) * C;
    for (int c = 0; c < C; c += 16) {
      const __mmask16 mk = C - c >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (C - c)) - 1);
      const __m512i q = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mk, xr + c)), zp);
      const __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q), xs), _mm512_maskz_loadu_ps(mk, gate + c));
      _mm_mask_storeu_epi8(yr + c, mk, finish_requant512(v, rq));
    }
  }
}

}  // namespace nnslim
