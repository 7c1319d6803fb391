// AVX-512 VNNI depthwise int8 kernel, 32 channels per step. As on AVX2, two taps are interleaved
// per 16-bit lane pair, but vpdpwssd multiplies both and accumulates in one instruction. vpunpck
// works within 128-bit lanes, so the two accumulators hold channels in lane order
// (lo: 0-3, 8-11, 16-19, 24-27; hi: 4-7, ...); one vpermt2q per half restores channel order.
// Weights are packed per 32-channel block and tap pair: the vpunpcklwd half, then the vpunpckhwd half.
// The int8-output entry finishes each pixel in registers (residual, activation, requantization).
#include <immintrin.h>

#include "../common/finish-avx512-inl.h"
#include "qs8-dwconv.h"

namespace nnslim {

namespace {
constexpr int kTile = 32;
inline int pairs(int taps) { return (taps + 1) / 2; }

// Adds the taps of the pixels at byte offsets off[0..NPix) for the 32 channels at c0 into (lo, hi);
// P > 0 fixes the pair count at compile time (3x3 and 5x5 unroll fully), P == 0 reads `npairs`.
// Several pixels at once give independent vpdpwssd chains (one pixel's chain of dependent
// accumulations was the bottleneck) and load each weight vector once for all of them.
template <int P, int NPix>
inline void accumulate(const int16_t* wp, const int8_t* const* tap, const size_t* off, int taps, int npairs,
                       __mmask32 mk, __m512i* lo, __m512i* hi) {
  const int n = P > 0 ? P : npairs;
  for (int p = 0; p < n; ++p, wp += 64) {
    // An odd last tap pairs with itself: its packed weight is zero.
    const int8_t* x0 = tap[2 * p];
    const int8_t* x1 = tap[2 * p + 1 < taps ? 2 * p + 1 : 2 * p];
    const __m512i wlo = _mm512_loadu_si512(wp), whi = _mm512_loadu_si512(wp + 32);
    for (int j = 0; j < NPix; ++j) {
      const __m512i a0 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mk, x0 + off[j]));
      const __m512i a1 = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mk, x1 + off[j]));
      lo[j] = _mm512_dpwssd_epi32(lo[j], _mm512_unpacklo_epi16(a0, a1), wlo);
      hi[j] = _mm512_dpwssd_epi32(hi[j], _mm512_unpackhi_epi16(a0, a1), whi);
    }
  }
}

// What happens to a pixel's 32 fp32 results: stored (the fp32 entry) or finished into int8.
struct StoreF32 {
  float* out;
  size_t ldo;
  void operator()(int i, int c0, __mmask16 m0, __mmask16 m1, __m512 f0, __m512 f1) const {
    float* y = out + size_t(i) * ldo + c0;
    _mm512_mask_storeu_ps(y, m0, f0);
    _mm512_mask_storeu_ps(y + 16, m1, f1);
  }
};
struct StoreS8 {
  const DwRequant* q;
  int C;
  void operator()(int i, int c0, __mmask16 m0, __mmask16 m1, __m512 f0, __m512 f1) const {
    const PostOp& op = *q->post;
    const size_t base = size_t(q->row0 + i) * op.ldr + c0;
    f0 = finish_activate512(finish_residual512(f0, op, base, m0), op);
    f1 = finish_activate512(finish_residual512(f1, op, base + 16, m1), op);
    int8_t* y = q->yq + size_t(i) * C + c0;
    _mm_mask_storeu_epi8(y, m0, finish_requant512(f0, *q->rq));
    _mm_mask_storeu_epi8(y + 16, m1, finish_requant512(f1, *q->rq));
  }
};

// StoreS8 for runs whose every value is finite (DwRequant::columns_bounded and a bounded
// residual): no NaN handling, 32 channels per saturating pack pair, and (IntAct) a ReLU / clamp
// (after the residual add) applied to the rounded int16 values, as the GEMM epilogue does
// (finish_requant512_finite_pair_clamped).
template <bool IntAct>
struct StoreS8Finite {
  const DwRequant* q;
  int C;
  __m512i lo16, hi16;
  void operator()(int i, int c0, __mmask16 m0, __mmask16 m1, __m512 f0, __m512 f1) const {
    const PostOp& op = *q->post;
    int8_t* y = q->yq + size_t(i) * C + c0;
    const __mmask32 mk = __mmask32(m0) | (__mmask32(m1) << 16);
    const size_t base = size_t(q->row0 + i) * op.ldr + c0;
    f0 = finish_residual512(f0, op, base, m0);
    f1 = finish_residual512(f1, op, base + 16, m1);
    if (IntAct) {
      _mm256_mask_storeu_epi8(y, mk, finish_requant512_finite_pair_clamped(f0, f1, *q->rq, lo16, hi16));
      return;
    }
    f0 = finish_activate512(f0, op);
    f1 = finish_activate512(f1, op);
    _mm256_mask_storeu_epi8(y, mk, finish_requant512_finite_pair(f0, f1, *q->rq));
  }
};

// Channel order restored (see the top), then float(acc) * scale + bias for the 32 channels at c0.
template <class Store>
inline void finish32(__m512i lo, __m512i hi, const float* scale, const float* bias, int i, int c0, __mmask32 mk,
                     const Store& store) {
  // 64-bit lane indices: channels 0-15 = lo.q0 lo.q1 hi.q0 hi.q1 lo.q2 lo.q3 hi.q2 hi.q3, etc.
  const __m512i idx0 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
  const __m512i idx1 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
  const __m512i v0 = _mm512_permutex2var_epi64(lo, idx0, hi);
  const __m512i v1 = _mm512_permutex2var_epi64(lo, idx1, hi);
  const __mmask16 m0 = __mmask16(mk), m1 = __mmask16(mk >> 16);
  const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias + c0) : _mm512_setzero_ps();
  const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + c0 + 16) : _mm512_setzero_ps();
  const __m512 f0 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v0), _mm512_maskz_loadu_ps(m0, scale + c0)), b0);
  const __m512 f1 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v1), _mm512_maskz_loadu_ps(m1, scale + c0 + 16)), b1);
  store(i, c0, m0, m1, f0, f1);
}

template <int P, int NPix, class Store>
inline void pixels(const PackedDw& w, const DwRun& r, int i, const float* scale, const float* bias,
                   const Store& store) {
  const int C = w.C, taps = w.taps, np = pairs(taps);
  size_t off[NPix];
  for (int j = 0; j < NPix; ++j) off[j] = size_t(i + j) * r.step;
  for (int c0 = 0; c0 < C; c0 += kTile) {
    const int16_t* wp = w.data.data() + size_t(c0 / kTile) * np * 64;
    const int cn = C - c0 < kTile ? C - c0 : kTile;  // taps hold C bytes: mask the last block's loads
    const __mmask32 mk = cn == kTile ? ~__mmask32(0) : (__mmask32(1) << cn) - 1;
    size_t offc[NPix];
    for (int j = 0; j < NPix; ++j) offc[j] = off[j] + c0;
    __m512i lo[NPix], hi[NPix];
    for (int j = 0; j < NPix; ++j) lo[j] = hi[j] = _mm512_setzero_si512();
    accumulate<P, NPix>(wp, r.tap, offc, taps, np, mk, lo, hi);
    for (int j = 0; j < NPix; ++j) finish32(lo[j], hi[j], scale, bias, i + j, c0, mk, store);
  }
}

template <int P, class Store>
void run_pixels(const PackedDw& w, const DwRun& r, const float* scale, const float* bias, const Store& store) {
  int i = 0;
  for (; i + 2 <= r.count; i += 2) pixels<P, 2>(w, r, i, scale, bias, store);
  if (i < r.count) pixels<P, 1>(w, r, i, scale, bias, store);
}

template <class Store>
void run_taps(const PackedDw& w, const DwRun& r, const float* scale, const float* bias, const Store& store) {
  switch (w.taps) {
    case 9:
      return run_pixels<5>(w, r, scale, bias, store);
    case 25:
      return run_pixels<13>(w, r, scale, bias, store);
    default:
      return run_pixels<0>(w, r, scale, bias, store);
  }
}

}  // namespace

// Weights come packed by the portable pack_tap_pairs (dispatch/qs8-dwconv.cc) in this kernel's order.
void nnslim_qs8_dwconv_ukernel__avx512vnni(const PackedDw& w, const DwRun& r, const float* scale, const float* bias,
                                           float* out, size_t ldo) {
  run_taps(w, r, scale, bias, StoreF32{out, ldo});
}

void nnslim_qs8_dwconv_ukernel_requant__avx512vnni(const PackedDw& w, const DwRun& r, const float* scale,
                                                   const float* bias, const DwRequant& q) {
  const PostOp& op = *q.post;
  if (!(q.columns_bounded && finish_residual_bounded(op))) return run_taps(w, r, scale, bias, StoreS8{&q, w.C});
  int16_t lo, hi;
  if (requant_act_bounds_s16(op.act, op.lo, op.hi, false, *q.rq, &lo, &hi))
    return run_taps(w, r, scale, bias, StoreS8Finite<true>{&q, w.C, _mm512_set1_epi16(lo), _mm512_set1_epi16(hi)});
  run_taps(w, r, scale, bias, StoreS8Finite<false>{&q, w.C, _mm512_setzero_si512(), _mm512_setzero_si512()});
}

}  // namespace nnslim
