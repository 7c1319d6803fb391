// AVX2 core shared by the SpMM and sparse-convolution files (both compiled with AVX2 + FMA flags).
// Same structure as the AVX-512 core with 8-wide vectors: a 64-wide tile is 8 accumulators, one
// independent FMA chain each, which fits the 16 YMM registers with room for operands.
#pragma once
#include <immintrin.h>

#include "f32-spmm.h"

namespace nnslim {
namespace avx2 {

constexpr int kNV = 8;
constexpr int kMR = 8 * kNV;

// Lane i active when i < n (as the sign bit maskload/maskstore test).
inline __m256i lanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int NV, bool MASK>
inline __m256 load(const float* p, int v, __m256i last) {
  return (MASK && v == NV - 1) ? _mm256_maskload_ps(p + 8 * v, last) : _mm256_loadu_ps(p + 8 * v);
}

template <int NV, bool MASK>
inline void store(float* p, int v, __m256i last, __m256 x) {
  if (MASK && v == NV - 1)
    _mm256_maskstore_ps(p + 8 * v, last, x);
  else
    _mm256_storeu_ps(p + 8 * v, x);
}

template <int NV, bool MASK>
inline void row_tile(const SpmmKernelArgs& a, int n, const float* x, __m256i last, __m256* acc) {
  const int32_t* off = a.offsets;
  const float* val = a.values;
  const __m256 b = _mm256_set1_ps(a.bias ? a.bias[n] : 0.f);
  for (int v = 0; v < NV; ++v) acc[v] = b;
  for (int64_t p = a.indptr[n], pe = a.indptr[n + 1]; p < pe; ++p) {
    const float* xp = x + off[p];
    const __m256 w = _mm256_set1_ps(val[p]);
    for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(w, load<NV, MASK>(xp, v, last), acc[v]);
  }
}

template <int NV, bool MASK, class Sink>
inline void rows_of_tile(const SpmmKernelArgs& a, int n0, int n1, int m, __m256i last, Sink& sink) {
  __m256 acc[NV];
  for (int n = n0; n < n1; ++n) {
    row_tile<NV, MASK>(a, n, a.x + m, last, acc);
    sink.template row<NV, MASK>(n, m, acc, last);
  }
}

// Tiles outermost, rows inside (see the AVX-512 core); sink.begin/end bracket each tile.
template <class Sink>
inline void for_each_tile(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1, Sink& sink) {
  int m = m0;
  const __m256i all = _mm256_set1_epi32(-1);
  for (; m + kMR <= m1; m += kMR) {
    sink.begin(m, kMR);
    rows_of_tile<kNV, false>(a, n0, n1, m, all, sink);
    sink.end(m, kMR);
  }
  const int rest = m1 - m;
  if (rest <= 0) return;
  const __m256i last = lanes(rest - (rest - 1) / 8 * 8);
  sink.begin(m, rest);
  switch ((rest + 7) / 8) {
    case 1: rows_of_tile<1, true>(a, n0, n1, m, last, sink); break;
    case 2: rows_of_tile<2, true>(a, n0, n1, m, last, sink); break;
    case 3: rows_of_tile<3, true>(a, n0, n1, m, last, sink); break;
    case 4: rows_of_tile<4, true>(a, n0, n1, m, last, sink); break;
    case 5: rows_of_tile<5, true>(a, n0, n1, m, last, sink); break;
    case 6: rows_of_tile<6, true>(a, n0, n1, m, last, sink); break;
    case 7: rows_of_tile<7, true>(a, n0, n1, m, last, sink); break;
    default: rows_of_tile<8, true>(a, n0, n1, m, last, sink); break;
  }
  sink.end(m, rest);
}

template <int NV>
inline void spill(float* dst, const __m256* acc) {
  for (int v = 0; v < NV; ++v) _mm256_store_ps(dst + 8 * v, acc[v]);
}

// In-register transpose of an 8 x 8 block: r[i][j] -> r[j][i].
inline void transpose8(__m256* r) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 2; ++g) {
    u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}

}  // namespace avx2
}  // namespace nnslim
