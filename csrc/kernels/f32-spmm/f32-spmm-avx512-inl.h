// AVX-512 core shared by the SpMM and sparse-convolution files (both compiled with AVX-512 flags).
// A tile is kNV vectors of 16 along the dense dimension; each output row keeps its tile in
// registers across all of its nonzeros, so y is written once and x is read once per nonzero.
// 128 lanes (8 vectors) measured ~10% faster than 64 on Zen 5: one broadcast and one index load
// serve twice the FMAs, and the tile's slice of x (in L2) is what bounds the speed.
#pragma once
#include <immintrin.h>

#include "f32-spmm.h"

namespace nnslim {
namespace avx512 {

constexpr int kNV = 8;
constexpr int kMR = 16 * kNV;

inline __mmask16 lanes(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// Loads vector v of a tile; only the last vector of a partial (MASK) tile is masked, and masked-off
// lanes are never read, so x needs no padding past the range.
template <int NV, bool MASK>
inline __m512 load(const float* p, int v, __mmask16 last) {
  return (MASK && v == NV - 1) ? _mm512_maskz_loadu_ps(last, p + 16 * v) : _mm512_loadu_ps(p + 16 * v);
}

// acc[0..NV) = bias[n] + sum_p values[p] * x[offsets[p] + (0..16 NV)], x already advanced to the tile.
// Two nonzeros per step into two accumulator sets: enough independent FMA chains for both FMA
// pipes even on the narrow tail tiles (more sets measured no better: x's loads are the bound).
template <int NV, bool MASK>
inline void row_tile(const SpmmKernelArgs& a, int n, const float* x, __mmask16 last, __m512* acc) {
  const int32_t* off = a.offsets;
  const float* val = a.values;
  __m512 s0[NV], s1[NV];
  const __m512 b = _mm512_set1_ps(a.bias ? a.bias[n] : 0.f);
  for (int v = 0; v < NV; ++v) {
    s0[v] = b;
    s1[v] = _mm512_setzero_ps();
  }
  int64_t p = a.indptr[n];
  const int64_t pe = a.indptr[n + 1];
  for (; p + 2 <= pe; p += 2) {
    const float* x0 = x + off[p];
    const float* x1 = x + off[p + 1];
    const __m512 w0 = _mm512_set1_ps(val[p]);
    const __m512 w1 = _mm512_set1_ps(val[p + 1]);
    for (int v = 0; v < NV; ++v) {
      s0[v] = _mm512_fmadd_ps(w0, load<NV, MASK>(x0, v, last), s0[v]);
      s1[v] = _mm512_fmadd_ps(w1, load<NV, MASK>(x1, v, last), s1[v]);
    }
  }
  if (p < pe) {
    const float* x0 = x + off[p];
    const __m512 w0 = _mm512_set1_ps(val[p]);
    for (int v = 0; v < NV; ++v) s0[v] = _mm512_fmadd_ps(w0, load<NV, MASK>(x0, v, last), s0[v]);
  }
  for (int v = 0; v < NV; ++v) acc[v] = _mm512_add_ps(s0[v], s1[v]);
}

// Runs sink.row<NV, MASK>(n, m, acc, last) for every row and tile of [n0, n1) x [m0, m1), tiles
// outermost so a tile's slice of x stays in cache while all rows stream their nonzeros over it;
// sink.begin(m, len) / sink.end(m, len) bracket each tile.
template <int NV, bool MASK, class Sink>
inline void rows_of_tile(const SpmmKernelArgs& a, int n0, int n1, int m, __mmask16 last, Sink& sink) {
  __m512 acc[NV];
  for (int n = n0; n < n1; ++n) {
    row_tile<NV, MASK>(a, n, a.x + m, last, acc);
    sink.template row<NV, MASK>(n, m, acc, last);
  }
}

template <class Sink>
inline void for_each_tile(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1, Sink& sink) {
  int m = m0;
  for (; m + kMR <= m1; m += kMR) {
    sink.begin(m, kMR);
    rows_of_tile<kNV, false>(a, n0, n1, m, 0xFFFF, sink);
    sink.end(m, kMR);
  }
  const int rest = m1 - m;
  if (rest <= 0) return;
  const __mmask16 last = lanes(rest - (rest - 1) / 16 * 16);
  sink.begin(m, rest);
  switch ((rest + 15) / 16) {
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

// Tile of NV vectors stored to a 16-aligned scratch row (lanes past the range are garbage).
template <int NV>
inline void spill(float* dst, const __m512* acc) {
  for (int v = 0; v < NV; ++v) _mm512_store_ps(dst + 16 * v, acc[v]);
}

// In-register transpose of a 16 x 16 block: r[i][j] -> r[j][i].
inline void transpose16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  __m512 u[16];  // u[4g + c], 128-bit lane L: column 4L + c of rows 4g..4g+3
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);   // lanes 0, 2 of groups 0, 1
    const __m512 w0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);   // lanes 1, 3 of groups 0, 1
    const __m512 v1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
    const __m512 w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
    r[c] = _mm512_shuffle_f32x4(v0, v1, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(v0, v1, 0xdd);
    r[4 + c] = _mm512_shuffle_f32x4(w0, w1, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(w0, w1, 0xdd);
  }
}

}  // namespace avx512
}  // namespace nnslim
