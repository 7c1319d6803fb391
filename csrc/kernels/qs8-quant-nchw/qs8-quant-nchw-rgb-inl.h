// The RGB interleave of the SIMD NCHW -> NHWC quantizers: three 16-byte channel vectors (16 pixels
// of R, of G, of B) -> 48 NHWC bytes through three pshufb masks per output block. SSSE3 only, so
// both the AVX2 and the AVX-512 file include it; internal linkage.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace nnslim {
namespace {

// pshufb masks: output byte o of 16-byte block j takes pixel o / 3 of channel o % 3.
struct Rgb {
  __m128i m[3][3];
  Rgb() {
    for (int j = 0; j < 3; ++j)
      for (int c = 0; c < 3; ++c) {
        alignas(16) int8_t b[16];
        for (int i = 0; i < 16; ++i) {
          const int o = 16 * j + i;
          b[i] = o % 3 == c ? int8_t(o / 3) : int8_t(-128);  // high bit set: pshufb writes 0
        }
        m[j][c] = _mm_load_si128(reinterpret_cast<const __m128i*>(b));
      }
  }
  // 16 pixels' int8 R, G and B values -> their 48 NHWC bytes at o.
  void store(__m128i r, __m128i g, __m128i b, int8_t* o) const {
    for (int j = 0; j < 3; ++j) {
      const __m128i v = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(r, m[j][0]), _mm_shuffle_epi8(g, m[j][1])),
                                     _mm_shuffle_epi8(b, m[j][2]));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 16 * j), v);
    }
  }
};

}  // namespace
}  // namespace nnslim
