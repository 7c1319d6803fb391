// AVX2 int8 global average pool sums: 32 channels a step, widened to int32 on load (4 accumulators
// of 8 channels), pixel by pixel; the channel tail goes through a zero-padded copy.
#include <immintrin.h>

#include <cstring>

#include "qs8-gavgpool.h"

namespace nnslim {

void nnslim_qs8_gavgpool_sums__avx2(const int8_t* x, int64_t pixels, int C, size_t ldx, int32_t* sum) {
  int c0 = 0;
  for (; c0 + 32 <= C; c0 += 32) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const int8_t* p = x + c0;
    for (int64_t i = 0; i < pixels; ++i, p += ldx) {
      a0 = _mm256_add_epi32(a0, _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
      a1 = _mm256_add_epi32(a1, _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8))));
      a2 = _mm256_add_epi32(a2, _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 16))));
      a3 = _mm256_add_epi32(a3, _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 24))));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sum + c0), a0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sum + c0 + 8), a1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sum + c0 + 16), a2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sum + c0 + 24), a3);
  }
  for (; c0 < C; c0 += 8) {
    const int n = C - c0 < 8 ? C - c0 : 8;
    __m256i a = _mm256_setzero_si256();
    const int8_t* p = x + c0;
    for (int64_t i = 0; i < pixels; ++i, p += ldx) {
      int64_t v = 0;
      std::memcpy(&v, p, size_t(n));
      a = _mm256_add_epi32(a, _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(v)));
    }
    alignas(32) int32_t t[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), a);
    for (int j = 0; j < n; ++j) sum[c0 + j] = t[j];
  }
}

}  // namespace nnslim
