// AVX2 int8 average over a window's pixel rows: 16 channels per step, summed exactly in int32 (two
// vpmovsxbd halves per row), scaled by 1 / divisor in float and rounded by vcvtps2dq (nearest even),
// then packed with signed saturation (the scalar definition's clamp). The last C % 16 channels run
// the scalar definition.
#include <immintrin.h>

#include <cmath>

#include "qs8-avgpool.h"

namespace nnslim {

void nnslim_qs8_avgpool_pixel__avx2(const int8_t* const* rows, int count, int C, int zero_point, int divisor,
                                    int8_t* out) {
  const __m256 inv = _mm256_set1_ps(1.f / float(divisor));
  const __m256i bias = _mm256_set1_epi32(count * zero_point);
  const __m256i zp = _mm256_set1_epi32(zero_point);
  int c = 0;
  for (; c + 16 <= C; c += 16) {
    __m256i lo = _mm256_setzero_si256(), hi = lo;
    for (int i = 0; i < count; ++i) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[i] + c));
      lo = _mm256_add_epi32(lo, _mm256_cvtepi8_epi32(v));
      hi = _mm256_add_epi32(hi, _mm256_cvtepi8_epi32(_mm_srli_si128(v, 8)));
    }
    lo = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(lo, bias)), inv)), zp);
    hi = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(hi, bias)), inv)), zp);
    // packs works within 128-bit lanes: [lo0-3 hi0-3 | lo4-7 hi4-7] -> reorder to lo0-7 hi0-7
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);
    const __m128i b = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + c), b);
  }
  for (; c < C; ++c) {  // the scalar definition, channel by channel
    int32_t sum = 0;
    for (int i = 0; i < count; ++i) sum += rows[i][c];
    const int32_t q = int32_t(std::nearbyint(float(sum - count * zero_point) * (1.f / float(divisor)))) + zero_point;
    out[c] = int8_t(q < -128 ? -128 : q > 127 ? 127 : q);
  }
}

}  // namespace nnslim
