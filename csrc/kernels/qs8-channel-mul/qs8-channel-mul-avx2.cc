// AVX2 squeeze-excite multiply: 16 channels a step, the scalar kernel's float operations in its
// order, then the shared requantizer (NaN -> zero point, as the block finisher) in registers, as the
// AVX-512 kernel does. A row's last C % 16 channels: an 8-byte step, a 4-byte one, else a local copy.
#include <immintrin.h>

#include <cstring>

#include "../common/finish-avx2-inl.h"
#include "qs8-channel-mul.h"

namespace nnslim {

void nnslim_qs8_channel_mul__avx2(const int8_t* x, int rows, int C, float x_scale, int32_t x_zero_point,
                                  const float* gate, const Requant& rq, int8_t* y) {
  const __m256i zp = _mm256_set1_epi32(x_zero_point);
  const __m256 xs = _mm256_set1_ps(x_scale);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const Requant q = rq;  // a local copy: the int8 stores could alias rq
  auto product = [&](__m128i x8, const float* g, int n) {  // 8 channels, n of them valid
    const __m256i v = _mm256_sub_epi32(_mm256_cvtepi8_epi32(x8), zp);
    const __m256 gv = n >= 8 ? _mm256_loadu_ps(g) : _mm256_maskload_ps(g, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane));
    return finish_requant256(_mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v), xs), gv), q);
  };
  const int cv = C & ~15;
  const bool tail8 = (C & 15) >= 8;  // one more 8-byte step
  const int c8 = cv + (tail8 ? 8 : 0), n = C - c8;  // then n < 8 channels
  for (int r = 0; r < rows; ++r) {
    const int8_t* xr = x + size_t(r) * C;
    int8_t* yr = y + size_t(r) * C;
    for (int c = 0; c < cv; c += 16) {
      const __m128i x16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xr + c));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(yr + c),
                       finish_pack16_s8(product(x16, gate + c, 8), product(_mm_srli_si128(x16, 8), gate + c + 8, 8)));
    }
    // Row tails as fixed-size moves (MobileNetV3's 72, 120, 184 and 200 channels end in 8): a byte
    // copy through the stack per pixel cost more than the 16-channel steps.
    if (tail8) {
      int64_t v;
      std::memcpy(&v, xr + cv, 8);
      const __m128i q = finish_pack8_s8(product(_mm_cvtsi64_si128(v), gate + cv, 8));
      v = _mm_cvtsi128_si64(q);
      std::memcpy(yr + cv, &v, 8);
    }
    if (n == 4) {
      int32_t v;
      std::memcpy(&v, xr + c8, 4);
      const __m128i q = finish_pack8_s8(product(_mm_cvtsi32_si128(v), gate + c8, 4));
      v = _mm_cvtsi128_si32(q);
      std::memcpy(yr + c8, &v, 4);
    } else if (n > 0) {
      alignas(16) int8_t t[16] = {};
      std::memcpy(t, xr + c8, size_t(n));
      const __m128i x8 = _mm_load_si128(reinterpret_cast<const __m128i*>(t));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(t), finish_pack8_s8(product(x8, gate + c8, n)));
      std::memcpy(yr + c8, t, size_t(n));
    }
  }
}

}  // namespace nnslim
