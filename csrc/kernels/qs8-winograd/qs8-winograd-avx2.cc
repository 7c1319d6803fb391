// AVX2 Winograd F(2x2, 3x3) kernels (qs8-winograd.h): 16 channels per int16 vector in the input
// transform; a 6-tile x 16-column vpmaddwd micro-kernel per position (the layout-0 GEMM's shape, 12
// accumulators), its 16 positions' results kept in a 6 KB stack block that the output transform reads
// while it is in L1. The epilogue is the GEMM's own (nnslim_qs8_store_acc__avx2 in qs8-gemm-avx2.cc).
#include <immintrin.h>

#include "qs8-winograd.h"

namespace nnslim {

namespace {

inline __m256i load16(const int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

inline void store16(int16_t* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }

#define NNSLIM_WINO_ROW(r)                                             \
  if constexpr (MR > r) {                                              \
    int32_t pair;                                                      \
    __builtin_memcpy(&pair, a + r * ldv + 2 * kk, 4);                  \
    const __m256i va = _mm256_set1_epi32(pair);                        \
    c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(b0, va));    \
    c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(b1, va));    \
  }
#define NNSLIM_WINO_STORE(r)                                                          \
  if constexpr (MR > r) {                                                             \
    _mm256_store_si256(reinterpret_cast<__m256i*>(m + (r * 16 + i) * 16), c##r##0);     \
    _mm256_store_si256(reinterpret_cast<__m256i*>(m + (r * 16 + i) * 16 + 8), c##r##1); \
  }

// noinline: each tile count gets its own register allocation.
template <int MR>
__attribute__((noinline)) void tile_block(const int16_t* v, size_t v_pos_stride, size_t ldv, const int16_t* u,
                                          size_t u_pos_stride, int kpairs, int32_t* out) {
  alignas(32) int32_t m[MR * 16 * 16];  // [tile][position][16 columns]
  for (int i = 0; i < 16; ++i) {
    const int16_t* a = v + i * v_pos_stride;
    const int16_t* w = u + i * u_pos_stride;
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
            c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int kk = 0; kk < kpairs; ++kk, w += 2 * kWinogradNR) {
      const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 16));
      NNSLIM_WINO_ROW(0)
      NNSLIM_WINO_ROW(1)
      NNSLIM_WINO_ROW(2)
      NNSLIM_WINO_ROW(3)
      NNSLIM_WINO_ROW(4)
      NNSLIM_WINO_ROW(5)
    }
    NNSLIM_WINO_STORE(0)
    NNSLIM_WINO_STORE(1)
    NNSLIM_WINO_STORE(2)
    NNSLIM_WINO_STORE(3)
    NNSLIM_WINO_STORE(4)
    NNSLIM_WINO_STORE(5)
  }
  // Output transform, 8 columns at a time: (A^T m A) >> 2. The adds wrap like the scalar reference's.
  for (int r = 0; r < MR; ++r)
    for (int h = 0; h < 16; h += 8) {
      auto at = [&](int i, int j) {
        return _mm256_load_si256(reinterpret_cast<const __m256i*>(m + (r * 16 + 4 * i + j) * 16 + h));
      };
      __m256i s[2][4];
      for (int j = 0; j < 4; ++j) {
        const __m256i m0 = at(0, j), m1 = at(1, j), m2 = at(2, j), m3 = at(3, j);
        s[0][j] = _mm256_add_epi32(_mm256_add_epi32(m0, m1), m2);
        s[1][j] = _mm256_sub_epi32(_mm256_sub_epi32(m1, m2), m3);
      }
      int32_t* o = out + r * 4 * kWinogradNR + h;
      for (int a = 0; a < 2; ++a) {
        const __m256i y0 = _mm256_add_epi32(_mm256_add_epi32(s[a][0], s[a][1]), s[a][2]);
        const __m256i y1 = _mm256_sub_epi32(_mm256_sub_epi32(s[a][1], s[a][2]), s[a][3]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + (2 * a) * kWinogradNR), _mm256_srai_epi32(y0, 2));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + (2 * a + 1) * kWinogradNR), _mm256_srai_epi32(y1, 2));
      }
    }
}

#undef NNSLIM_WINO_ROW
#undef NNSLIM_WINO_STORE

}  // namespace

void nnslim_qs8_winograd_input_tile__avx2(const int8_t* const* d, int C, int Cp, int16_t* v, size_t pos_stride) {
  int c = 0;
  for (; c + 16 <= C; c += 16) {
    __m256i r[4][4];  // B^T x: the rows
    for (int j = 0; j < 4; ++j) {
      const __m256i x0 = load16(d[j] + c), x1 = load16(d[4 + j] + c), x2 = load16(d[8 + j] + c),
                    x3 = load16(d[12 + j] + c);
      r[0][j] = _mm256_sub_epi16(x0, x2);
      r[1][j] = _mm256_add_epi16(x1, x2);
      r[2][j] = _mm256_sub_epi16(x2, x1);
      r[3][j] = _mm256_sub_epi16(x1, x3);
    }
    for (int i = 0; i < 4; ++i) {  // (B^T x) B: the columns
      int16_t* o = v + 4 * i * pos_stride + c;
      store16(o, _mm256_sub_epi16(r[i][0], r[i][2]));
      store16(o + pos_stride, _mm256_add_epi16(r[i][1], r[i][2]));
      store16(o + 2 * pos_stride, _mm256_sub_epi16(r[i][2], r[i][1]));
      store16(o + 3 * pos_stride, _mm256_sub_epi16(r[i][1], r[i][3]));
    }
  }
  if (c < Cp) {  // the last C % 16 channels and the pair padding: the reference, from channel c
    const int8_t* dc[16];
    for (int i = 0; i < 16; ++i) dc[i] = d[i] + c;
    nnslim_qs8_winograd_input_tile__scalar(dc, C - c, Cp - c, v + c, pos_stride);
  }
}

void nnslim_qs8_winograd_tile_block__avx2(const int16_t* v, size_t v_pos_stride, size_t ldv, int rows,
                                          const int16_t* u, size_t u_pos_stride, int kpairs, int32_t* out) {
  switch (rows) {
    case 6: return tile_block<6>(v, v_pos_stride, ldv, u, u_pos_stride, kpairs, out);
    case 5: return tile_block<5>(v, v_pos_stride, ldv, u, u_pos_stride, kpairs, out);
    case 4: return tile_block<4>(v, v_pos_stride, ldv, u, u_pos_stride, kpairs, out);
    case 3: return tile_block<3>(v, v_pos_stride, ldv, u, u_pos_stride, kpairs, out);
    case 2: return tile_block<2>(v, v_pos_stride, ldv, u, u_pos_stride, kpairs, out);
    case 1: return tile_block<1>(v, v_pos_stride, ldv, u, u_pos_stride, kpairs, out);
    default: return;
  }
}

}  // namespace nnslim
