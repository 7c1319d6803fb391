// AVX2 block-sparse kernel. Activations are packed per tile of 16 rows as s16 [Kq][16] (one YMM
// per input column). Blocks go in pairs: the two columns' vectors are interleaved (vpunpck{l,h}wd)
// into (x[m, col_a], x[m, col_b]) pairs, and each of the 4 block rows multiplies them with its
// broadcast weight pair (vpmaddwd): one pair of x loads feeds 4 rows x 16 activations x 2 blocks,
// exact for every int8 value (s16 products, pair sums <= 2^15). The unpacks permute the rows:
// `lo` holds activation rows 0-3 and 8-11, `hi` rows 4-7 and 12-15, undone by the store.
#include <immintrin.h>

#include "../common/transpose4-inl.h"
#include "qs8-spmm-transpose-inl.h"
#include "qs8-spmm.h"

namespace nnslim {

namespace {

constexpr int kMB = 16;

// acc[2 * r + h]: block row r, half h (0: rows 0-3 | 8-11, 1: rows 4-7 | 12-15).
void store_tile(const Qs8SpmmTile& t, int n0, const __m256i* acc) {
  const bool full = t.mvalid == kMB && n0 + kBlockRows <= t.N;
  __m256 v[8];
  if (t.C32) {
    for (int i = 0; i < 8; ++i) v[i] = _mm256_castsi256_ps(acc[i]);
  } else {
    const float* a = t.a_scale + t.m0;
    const __m256 as[2] = {_mm256_set_m128(_mm_loadu_ps(a + 8), _mm_loadu_ps(a)),
                          _mm256_set_m128(_mm_loadu_ps(a + 12), _mm_loadu_ps(a + 4))};
    for (int r = 0; r < kBlockRows; ++r) {
      const int n = n0 + r < t.N ? n0 + r : t.N - 1;  // padded rows: any valid scale, not stored
      const __m256 ws = _mm256_set1_ps(t.w_scale[n]);
      const __m256 b = _mm256_set1_ps(t.bias ? t.bias[n] : 0.f);
      for (int h = 0; h < 2; ++h) {
        // Same operation order as ref::dequant_epilogue: acc * (a_scale * w_scale) + bias.
        __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[2 * r + h]), _mm256_mul_ps(as[h], ws)), b);
        if (t.relu) y = _mm256_max_ps(_mm256_setzero_ps(), y);  // NaN and -0.0 pass, as in ref
        v[2 * r + h] = y;
      }
    }
  }
  // Transposed, o[h][j] lane 0 = the 4 outputs of activation row 4h + j, lane 1 of row 8 + 4h + j.
  __m256 o[2][4];
  for (int h = 0; h < 2; ++h) {
    const __m256 r[4] = {v[h], v[2 + h], v[4 + h], v[6 + h]};
    transpose4_lanes(r, o[h]);
  }
  float* base = t.Cf ? t.Cf : reinterpret_cast<float*>(t.C32);
  if (full) {
    for (int h = 0; h < 2; ++h)
      for (int j = 0; j < 4; ++j) {
        const int i = 4 * h + j;
        _mm_storeu_ps(base + size_t(t.m0 + i) * t.ldc + n0, _mm256_castps256_ps128(o[h][j]));
        _mm_storeu_ps(base + size_t(t.m0 + 8 + i) * t.ldc + n0, _mm256_extractf128_ps(o[h][j], 1));
      }
    return;
  }
  alignas(32) float tmp[kMB][4];
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 4; ++j) {
      _mm_store_ps(tmp[4 * h + j], _mm256_castps256_ps128(o[h][j]));
      _mm_store_ps(tmp[8 + 4 * h + j], _mm256_extractf128_ps(o[h][j], 1));
    }
  const int nvalid = t.N - n0 < kBlockRows ? t.N - n0 : kBlockRows;
  for (int i = 0; i < t.mvalid; ++i)
    __builtin_memcpy(base + size_t(t.m0 + i) * t.ldc + n0, tmp[i], sizeof(float) * nvalid);
}

}  // namespace

void nnslim_qs8_spmm_pack_x__avx2(const int8_t* q, size_t ldq, int rows, int Kq, void* dst) {
  int16_t* out = static_cast<int16_t*>(dst);
  __m128i r[16], c[16];
  for (int k = 0; k < Kq; k += 16) {
    load_rows_16(q, ldq, rows, k, r);
    transpose_16x16_u8(r, c);
    for (int j = 0; j < 16; ++j)
      _mm256_store_si256(reinterpret_cast<__m256i*>(out + size_t(k + j) * kMB), _mm256_cvtepi8_epi16(c[j]));
  }
}

void nnslim_qs8_spmm_4x1__avx2(const Qs8SpmmTile& t, int b0, int b1) {
  const int16_t* x = static_cast<const int16_t*>(t.x);
  const int32_t* cols = t.cols;
  const int32_t* wts = t.wts;
  for (int b = b0; b < b1; ++b) {
    __m256i c0l = _mm256_setzero_si256(), c0h = c0l, c1l = c0l, c1h = c0l, c2l = c0l, c2h = c0l, c3l = c0l,
            c3h = c0l;
    for (int64_t g = t.gptr[b], ge = t.gptr[b + 1]; g < ge; ++g) {
      const __m256i xa = _mm256_load_si256(reinterpret_cast<const __m256i*>(x + size_t(cols[2 * g]) * kMB));
      const __m256i xb = _mm256_load_si256(reinterpret_cast<const __m256i*>(x + size_t(cols[2 * g + 1]) * kMB));
      const __m256i lo = _mm256_unpacklo_epi16(xa, xb), hi = _mm256_unpackhi_epi16(xa, xb);
      const int32_t* w = wts + 4 * g;
      __m256i wv = _mm256_set1_epi32(w[0]);
      c0l = _mm256_add_epi32(c0l, _mm256_madd_epi16(lo, wv));
      c0h = _mm256_add_epi32(c0h, _mm256_madd_epi16(hi, wv));
      wv = _mm256_set1_epi32(w[1]);
      c1l = _mm256_add_epi32(c1l, _mm256_madd_epi16(lo, wv));
      c1h = _mm256_add_epi32(c1h, _mm256_madd_epi16(hi, wv));
      wv = _mm256_set1_epi32(w[2]);
      c2l = _mm256_add_epi32(c2l, _mm256_madd_epi16(lo, wv));
      c2h = _mm256_add_epi32(c2h, _mm256_madd_epi16(hi, wv));
      wv = _mm256_set1_epi32(w[3]);
      c3l = _mm256_add_epi32(c3l, _mm256_madd_epi16(lo, wv));
      c3h = _mm256_add_epi32(c3h, _mm256_madd_epi16(hi, wv));
    }
    const __m256i acc[8] = {c0l, c0h, c1l, c1h, c2l, c2h, c3l, c3h};
    store_tile(t, b * kBlockRows, acc);
  }
}

// Few rows (decoding, online serving): no packing, a 16-row tile would be mostly padding. Each
// activation row's two block values of a group are paired in a scalar register and broadcast; the
// group's 4 row pairs (one 128-bit load, the same packed weights as the tile kernel) take one
// vpmaddwd, two groups per 256-bit instruction. Reads the quantized rows as they are (t.x, t.ldx).
void nnslim_qs8_spmm_4x1_rows__avx2(const Qs8SpmmTile& t, int b0, int b1) {
  const int8_t* q = static_cast<const int8_t*>(t.x);
  const int32_t* cols = t.cols;
  const int32_t* wts = t.wts;
  auto pair = [&](const int8_t* x, int64_t g) {
    return int32_t(uint32_t(uint16_t(int16_t(x[cols[2 * g]]))) | (uint32_t(uint16_t(int16_t(x[cols[2 * g + 1]]))) << 16));
  };
  for (int b = b0; b < b1; ++b) {
    const int64_t g0 = t.gptr[b], g1 = t.gptr[b + 1];
    for (int i = 0; i < t.mvalid; ++i) {
      const int8_t* x = q + size_t(i) * t.ldx;
      __m256i acc = _mm256_setzero_si256();
      int64_t g = g0;
      for (; g + 2 <= g1; g += 2) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wts + 4 * g));
        const __m256i xv = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi32(pair(x, g))),
                                                   _mm_set1_epi32(pair(x, g + 1)), 1);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xv, w));
      }
      __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
      if (g < g1) {
        const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wts + 4 * g));
        sum = _mm_add_epi32(sum, _mm_madd_epi16(_mm_set1_epi32(pair(x, g)), w));
      }
      alignas(16) int32_t out[kBlockRows];
      _mm_store_si128(reinterpret_cast<__m128i*>(out), sum);
      Qs8SpmmTile row = t;
      row.m0 = t.m0 + i;
      row.mvalid = 1;
      qs8_spmm_store_tile_scalar(row, b * kBlockRows, out, 1);
    }
  }
}

}  // namespace nnslim
