// 16 x 16 byte transpose with SSE2 unpacks, shared by the AVX2 and AVX-512 activation packers.
// Internal linkage (anonymous namespace): each ISA file gets its own copy compiled with its own
// flags, so the linker can never hand one ISA's instance to another ISA's caller.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace nnslim {
namespace {

// out[k] byte i = rows[i] byte k.
inline void transpose_16x16_u8(const __m128i* rows, __m128i* out) {
  __m128i a[16], b[16], c[16];
  // a[i]: 16-bit element e = (row 2i, row 2i + 1) at k = e (i < 8) or k = 8 + e (i >= 8).
  for (int i = 0; i < 8; ++i) {
    a[i] = _mm_unpacklo_epi8(rows[2 * i], rows[2 * i + 1]);
    a[8 + i] = _mm_unpackhi_epi8(rows[2 * i], rows[2 * i + 1]);
  }
  // b[4g + j]: 32-bit element e = rows 4j..4j+3 at k = 4g + e.
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j) {
      b[8 * h + j] = _mm_unpacklo_epi16(a[8 * h + 2 * j], a[8 * h + 2 * j + 1]);
      b[8 * h + 4 + j] = _mm_unpackhi_epi16(a[8 * h + 2 * j], a[8 * h + 2 * j + 1]);
    }
  // c[4g + 2s + h]: 64-bit element e = rows 8h..8h+7 at k = 4g + 2s + e.
  for (int g = 0; g < 4; ++g)
    for (int h = 0; h < 2; ++h) {
      c[4 * g + h] = _mm_unpacklo_epi32(b[4 * g + 2 * h], b[4 * g + 2 * h + 1]);
      c[4 * g + 2 + h] = _mm_unpackhi_epi32(b[4 * g + 2 * h], b[4 * g + 2 * h + 1]);
    }
  for (int g = 0; g < 4; ++g)
    for (int s = 0; s < 2; ++s) {
      out[4 * g + 2 * s] = _mm_unpacklo_epi64(c[4 * g + 2 * s], c[4 * g + 2 * s + 1]);
      out[4 * g + 2 * s + 1] = _mm_unpackhi_epi64(c[4 * g + 2 * s], c[4 * g + 2 * s + 1]);
    }
}

// Loads the 16-column chunk at k of rows [0, 16) of q (rows >= `rows` as zeros).
inline void load_rows_16(const int8_t* q, size_t ldq, int rows, int k, __m128i* out) {
  for (int i = 0; i < 16; ++i)
    out[i] = i < rows ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + size_t(i) * ldq + k))
                      : _mm_setzero_si128();
}

}  // namespace
}  // namespace nnslim
