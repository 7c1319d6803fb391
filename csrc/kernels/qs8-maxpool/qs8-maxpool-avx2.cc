// AVX2 int8 max over a window's pixel rows: 32 channels per vpmaxsb; the last C % 32 channels in a
// byte loop (a window is at most a few rows, so the tail is cheap).
#include <immintrin.h>

#include "qs8-maxpool.h"

namespace nnslim {

void nnslim_qs8_maxpool_pixel__avx2(const int8_t* const* rows, int count, int C, int8_t* out) {
  int c = 0;
  for (; c + 32 <= C; c += 32) {
    __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[0] + c));
    for (int i = 1; i < count; ++i)
      m = _mm256_max_epi8(m, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[i] + c)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c), m);
  }
  for (; c < C; ++c) {
    int8_t m = rows[0][c];
    for (int i = 1; i < count; ++i) m = rows[i][c] > m ? rows[i][c] : m;
    out[c] = m;
  }
}

}  // namespace nnslim
