// AVX2 squeeze-excite multiply: 16 channels a step, the scalar kernel's float operations in its
// order, then the shared requantizer (NaN -> zero point, as the block finisher) in registers, as the
// AVX-512 kernel does. A row's last C % 16 channels go through 16-byte local copies.
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
  for (int r = 0; r < rows; ++r) {
    const int8_t* xr = x + size_t(r) * C;
    int8_t* yr = y + size_t(r) * C;
    for (int c = 0; c < cv; c += 16) {
      const __m128i x16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xr + c));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(yr + c),
                       finish_pack16_s8(product(x16, gate + c, 8), product(_mm_srli_si128(x16, 8), gate + c + 8, 8)));
    }
    if (cv < C) {
      const int n = C - cv;
      alignas(16) int8_t t[16] = {};
      std::memcpy(t, xr + cv, size_t(n));
      const __m128i x16 = _mm_load_si128(reinterpret_cast<const __m128i*>(t));
      _mm_store_si128(reinterpret_cast<__m128i*>(t), finish_pack16_s8(product(x16, gate + cv, n),
                                                                        n > 8 ? product(_mm_srli_si128(x16, 8), gate + cv + 8, n - 8)
                                                                              : _mm256_setzero_si256()));
      std::memcpy(yr + cv, t, size_t(n));
    }
  }
}

}  // namespace nnslim
