// AVX2 depthwise int8 kernel, 16 channels per step, laid out as the AVX-512 VNNI one
// (qs8-dwconv-avx512vnni.cc): two taps are interleaved per 16-bit lane pair so one vpmaddwd
// multiplies and adds both (then vpaddd accumulates; AVX2 has no vpdpwssd); the weights are packed
// in that interleaved order (per 16-channel block and tap pair: the vpunpcklwd half, then the
// vpunpckhwd half). Two pixels at a time give independent accumulation chains and load each weight
// vector once for both. The int8-output entry finishes each pixel in registers (residual,
// activation, requantization: finish-avx2-inl.h), with no fp32 block.
#include <immintrin.h>

#include <cstring>

#include "../common/finish-avx2-inl.h"
#include "qs8-dwconv.h"

namespace nnslim {

namespace {
constexpr int kTile = 16;
inline int pairs(int taps) { return (taps + 1) / 2; }

// 16 int8 channels at x as int16; Full: all 16 are inside the row, else only cn (a row holds C bytes,
// so the last block must not read past them). A tail of whole 4-byte groups (MobileNetV3's 72, 120,
// 184 and 200 channels end in 8) is one masked load, which never touches the masked-off bytes; others
// go through a zeroed copy. (Copies for every tap made a 72-channel 3x3 cost 2.4x a 64-channel one.)
template <bool Full>
inline __m256i load16(const int8_t* x, int cn) {
  if constexpr (Full) return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x)));
  if ((cn & 3) == 0) {
    const __m128i mask = _mm_cmpgt_epi32(_mm_set1_epi32(cn >> 2), _mm_setr_epi32(0, 1, 2, 3));
    return _mm256_cvtepi8_epi16(_mm_maskload_epi32(reinterpret_cast<const int*>(x), mask));
  }
  alignas(16) int8_t t[kTile] = {};
  std::memcpy(t, x, size_t(cn));
  return _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

// Adds the taps of the pixels at byte offsets off[0..NPix) for the 16 channels at the offsets into
// (lo, hi); P > 0 fixes the pair count at compile time (3x3 and 5x5 unroll fully), P == 0 reads `npairs`.
template <int P, int NPix, bool Full>
inline void accumulate(const int16_t* wp, const int8_t* const* tap, const size_t* off, int taps, int npairs, int cn,
                       __m256i* lo, __m256i* hi) {
  const int n = P > 0 ? P : npairs;
  for (int p = 0; p < n; ++p, wp += 32) {
    // An odd last tap pairs with itself: its packed weight is zero.
    const int8_t* x0 = tap[2 * p];
    const int8_t* x1 = tap[2 * p + 1 < taps ? 2 * p + 1 : 2 * p];
    const __m256i wlo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp));
    const __m256i whi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + 16));
    for (int j = 0; j < NPix; ++j) {
      const __m256i a0 = load16<Full>(x0 + off[j], cn), a1 = load16<Full>(x1 + off[j], cn);
      lo[j] = _mm256_add_epi32(lo[j], _mm256_madd_epi16(_mm256_unpacklo_epi16(a0, a1), wlo));
      hi[j] = _mm256_add_epi32(hi[j], _mm256_madd_epi16(_mm256_unpackhi_epi16(a0, a1), whi));
    }
  }
}

// What happens to a pixel's 16 fp32 results (channels c0.. of pixel i, cn of them valid): stored
// (the fp32 entry) or finished into int8.
struct StoreF32 {
  float* out;
  size_t ldo;
  void operator()(int i, int c0, int cn, __m256 f0, __m256 f1) const {
    float* y = out + size_t(i) * ldo + c0;
    if (cn == kTile) {
      _mm256_storeu_ps(y, f0);
      _mm256_storeu_ps(y + 8, f1);
      return;
    }
    alignas(32) float t[kTile];
    _mm256_store_ps(t, f0);
    _mm256_store_ps(t + 8, f1);
    std::memcpy(y, t, sizeof(float) * size_t(cn));
  }
};

// The residual added to (f0, f1), read whole for a full block and through a local copy of its cn
// values for the last one (finish_residual256 reads 8 at a time).
inline void add_residual(const PostOp& op, size_t base, int cn, __m256* f0, __m256* f1) {
  if (!op.has_residual()) return;
  if (cn == kTile) {
    *f0 = finish_residual256(*f0, op, base);
    *f1 = finish_residual256(*f1, op, base + 8);
    return;
  }
  alignas(32) float rf[kTile] = {};
  alignas(16) int8_t rqv[kTile] = {};
  PostOp local = op;
  if (op.residual) std::memcpy(rf, op.residual + base, sizeof(float) * size_t(cn)), local.residual = rf;
  if (op.residual_q) std::memcpy(rqv, op.residual_q + base, size_t(cn)), local.residual_q = rqv;
  *f0 = finish_residual256(*f0, local, 0);
  *f1 = finish_residual256(*f1, local, 8);
}

inline void store_s8(int8_t* y, int cn, __m128i q) {
  if (cn == kTile) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y), q);
    return;
  }
  if (cn == kTile / 2) {  // MobileNetV3's 72, 120, 184, 200 channels
    _mm_storel_epi64(reinterpret_cast<__m128i*>(y), q);
    return;
  }
  alignas(16) int8_t t[kTile];
  _mm_store_si128(reinterpret_cast<__m128i*>(t), q);
  std::memcpy(y, t, size_t(cn));
}

struct StoreS8 {
  const DwRequant* q;
  int C;
  void operator()(int i, int c0, int cn, __m256 f0, __m256 f1) const {
    const PostOp& op = *q->post;
    add_residual(op, size_t(q->row0 + i) * op.ldr + c0, cn, &f0, &f1);
    store_s8(q->yq + size_t(i) * C + c0, cn,
             finish_pack16_s8(finish_requant256(finish_activate256(f0, op), *q->rq),
                              finish_requant256(finish_activate256(f1, op), *q->rq)));
  }
};

// StoreS8 for runs whose every value is finite (DwRequant::columns_bounded and a bounded
// residual): no NaN handling, 16 channels per saturating pack pair, and (IntAct) a ReLU / clamp
// (after the residual add) applied to the rounded int16 values, as the GEMM epilogue does
// (finish_requant256_finite_pair_clamped).
template <bool IntAct>
struct StoreS8Finite {
  const DwRequant* q;
  int C;
  __m256i lo16, hi16;
  void operator()(int i, int c0, int cn, __m256 f0, __m256 f1) const {
    const PostOp& op = *q->post;
    add_residual(op, size_t(q->row0 + i) * op.ldr + c0, cn, &f0, &f1);
    int8_t* y = q->yq + size_t(i) * C + c0;
    if (IntAct) return store_s8(y, cn, finish_requant256_finite_pair_clamped(f0, f1, *q->rq, lo16, hi16));
    store_s8(y, cn,
             finish_pair_s16_to_s8_256(finish_pack_pair_s16_256(finish_activate256(f0, op), finish_activate256(f1, op), *q->rq),
                                       *q->rq));
  }
};

// Channel order restored (acc lo holds channels 0-3 and 8-11, hi 4-7 and 12-15: vpunpck works within
// 128-bit lanes), then float(acc) * scale + bias for the 16 channels at c0 (scale and bias hold Cp values).
template <class Store>
inline void finish16(__m256i lo, __m256i hi, const float* scale, const float* bias, int i, int c0, int cn,
                     const Store& store) {
  const __m256i v0 = _mm256_permute2x128_si256(lo, hi, 0x20);
  const __m256i v1 = _mm256_permute2x128_si256(lo, hi, 0x31);
  const __m256 b0 = bias ? _mm256_loadu_ps(bias + c0) : _mm256_setzero_ps();
  const __m256 b1 = bias ? _mm256_loadu_ps(bias + c0 + 8) : _mm256_setzero_ps();
  const __m256 f0 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v0), _mm256_loadu_ps(scale + c0)), b0);
  const __m256 f1 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v1), _mm256_loadu_ps(scale + c0 + 8)), b1);
  store(i, c0, cn, f0, f1);
}

template <int P, int NPix, bool Full, class Store>
inline void block(const PackedDw& w, const DwRun& r, const size_t* off, int c0, int i, const float* scale,
                  const float* bias, const Store& store) {
  const int np = pairs(w.taps), cn = w.C - c0 < kTile ? w.C - c0 : kTile;
  const int16_t* wp = w.data.data() + size_t(c0 / kTile) * np * 32;
  size_t offc[NPix];
  for (int j = 0; j < NPix; ++j) offc[j] = off[j] + c0;
  __m256i lo[NPix], hi[NPix];
  for (int j = 0; j < NPix; ++j) lo[j] = hi[j] = _mm256_setzero_si256();
  accumulate<P, NPix, Full>(wp, r.tap, offc, w.taps, np, cn, lo, hi);
  for (int j = 0; j < NPix; ++j) finish16(lo[j], hi[j], scale, bias, i + j, c0, cn, store);
}

template <int P, int NPix, class Store>
inline void pixels(const PackedDw& w, const DwRun& r, int i, const float* scale, const float* bias,
                   const Store& store) {
  const int C = w.C, full = C / kTile * kTile;
  size_t off[NPix];
  for (int j = 0; j < NPix; ++j) off[j] = size_t(i + j) * r.step;
  for (int c0 = 0; c0 < full; c0 += kTile) block<P, NPix, true>(w, r, off, c0, i, scale, bias, store);
  if (full < C) block<P, NPix, false>(w, r, off, full, i, scale, bias, store);
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

// The int8-output run without a residual, 3x3 and 5x5 (P = 5, 13 tap pairs): channel blocks outer
// and pixels inner, with what a block reads in locals (tap pointers, weights, scales and biases), so
// the int8 stores, which may alias any memory, force no reloads; and the finish keeps the
// accumulators' lane order (channels 0-3 and 8-11 in lo, 4-7 and 12-15 in hi) by taking the scales
// and biases in that order, so no vperm2i128 / vpermq per pixel (finish_*_inorder). The same float
// operations as finish16 and the store functors, lane for lane. Profiled before it (Zen 3, 72
// channels 3x3 at 56x56): the per-pixel finish and scalar reloads took ~75% of the kernel, the
// multiplies ~14%.
enum class LeanFinish { clamp16, finite, any };  // StoreS8Finite<true>, StoreS8Finite<false>, StoreS8

template <LeanFinish F>
inline __m128i lean_finish(__m256 f0, __m256 f1, const PostOp& op, const Requant& rq, __m256i lo16, __m256i hi16) {
  if constexpr (F == LeanFinish::clamp16)
    return finish_s16_to_s8_inorder(_mm256_min_epi16(_mm256_max_epi16(finish_pack_pair_s16_256(f0, f1, rq), lo16), hi16),
                                    rq);
  else if constexpr (F == LeanFinish::finite)
    return finish_s16_to_s8_inorder(finish_pack_pair_s16_256(finish_activate256(f0, op), finish_activate256(f1, op), rq),
                                    rq);
  else
    return finish_pack16_s8_inorder(finish_requant256(finish_activate256(f0, op), rq),
                                    finish_requant256(finish_activate256(f1, op), rq));
}

template <int P, bool Full, LeanFinish F>
void lean_block(const int16_t* wp, const int8_t* const* t, size_t step, int count, int cn, __m256 s_lo, __m256 s_hi,
                __m256 b_lo, __m256 b_hi, const PostOp& op, const Requant& rq, __m256i lo16, __m256i hi16, int8_t* y,
                size_t ldy) {
  auto finish = [&](__m256i lo, __m256i hi, int8_t* dst) {
    const __m256 f0 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(lo), s_lo), b_lo);
    const __m256 f1 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(hi), s_hi), b_hi);
    store_s8(dst, cn, lean_finish<F>(f0, f1, op, rq, lo16, hi16));
  };
  int i = 0;
  for (; i + 2 <= count; i += 2) {
    const size_t off[2] = {size_t(i) * step, size_t(i + 1) * step};
    __m256i lo[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()}, hi[2] = {lo[0], lo[0]};
    accumulate<P, 2, Full>(wp, t, off, 2 * P, P, cn, lo, hi);
    finish(lo[0], hi[0], y + size_t(i) * ldy);
    finish(lo[1], hi[1], y + size_t(i + 1) * ldy);
  }
  if (i < count) {
    const size_t off[1] = {size_t(i) * step};
    __m256i lo[1] = {_mm256_setzero_si256()}, hi[1] = {lo[0]};
    accumulate<P, 1, Full>(wp, t, off, 2 * P, P, cn, lo, hi);
    finish(lo[0], hi[0], y + size_t(i) * ldy);
  }
}

template <int P, LeanFinish F>
void run_lean(const PackedDw& w, const DwRun& r, const float* scale, const float* bias, const DwRequant& q,
              __m256i lo16, __m256i hi16) {
  const PostOp op = *q.post;
  const Requant rq = *q.rq;
  int8_t* const yq = q.yq;
  const int C = w.C, taps = w.taps, count = r.count;
  const size_t step = r.step;
  // 2P taps: an odd last one pairs with itself (its packed partner weight is zero), as accumulate reads.
  const int8_t* tap0[2 * P];
  for (int k = 0; k < 2 * P; ++k) tap0[k] = r.tap[k < taps ? k : taps - 1];
  for (int c0 = 0; c0 < C; c0 += kTile) {
    const int cn = C - c0 < kTile ? C - c0 : kTile;
    const int8_t* t[2 * P];
    for (int k = 0; k < 2 * P; ++k) t[k] = tap0[k] + c0;
    const int16_t* wp = w.data.data() + size_t(c0 / kTile) * P * 32;
    const __m256 sc0 = _mm256_loadu_ps(scale + c0), sc1 = _mm256_loadu_ps(scale + c0 + 8);
    const __m256 bc0 = bias ? _mm256_loadu_ps(bias + c0) : _mm256_setzero_ps();
    const __m256 bc1 = bias ? _mm256_loadu_ps(bias + c0 + 8) : _mm256_setzero_ps();
    const __m256 s_lo = _mm256_permute2f128_ps(sc0, sc1, 0x20), s_hi = _mm256_permute2f128_ps(sc0, sc1, 0x31);
    const __m256 b_lo = _mm256_permute2f128_ps(bc0, bc1, 0x20), b_hi = _mm256_permute2f128_ps(bc0, bc1, 0x31);
    if (cn == kTile)
      lean_block<P, true, F>(wp, t, step, count, cn, s_lo, s_hi, b_lo, b_hi, op, rq, lo16, hi16, yq + c0, size_t(C));
    else
      lean_block<P, false, F>(wp, t, step, count, cn, s_lo, s_hi, b_lo, b_hi, op, rq, lo16, hi16, yq + c0, size_t(C));
  }
}

template <LeanFinish F>
void run_lean_taps(const PackedDw& w, const DwRun& r, const float* scale, const float* bias, const DwRequant& q,
                   __m256i lo16, __m256i hi16) {
  if (w.taps == 9) return run_lean<5, F>(w, r, scale, bias, q, lo16, hi16);
  run_lean<13, F>(w, r, scale, bias, q, lo16, hi16);
}

}  // namespace

// Weights come packed by the portable pack_tap_pairs (dispatch/qs8-dwconv.cc) in this kernel's order.
void nnslim_qs8_dwconv_ukernel__avx2(const PackedDw& w, const DwRun& r, const float* scale, const float* bias,
                                     float* out, size_t ldo) {
  run_taps(w, r, scale, bias, StoreF32{out, ldo});
}

void nnslim_qs8_dwconv_ukernel_requant__avx2(const PackedDw& w, const DwRun& r, const float* scale, const float* bias,
                                             const DwRequant& q) {
  const PostOp& op = *q.post;
  const bool lean = !op.has_residual() && (w.taps == 9 || w.taps == 25);
  const __m256i zero = _mm256_setzero_si256();
  if (!(q.columns_bounded && finish_residual_bounded(op))) {
    if (lean) return run_lean_taps<LeanFinish::any>(w, r, scale, bias, q, zero, zero);
    return run_taps(w, r, scale, bias, StoreS8{&q, w.C});
  }
  int16_t lo, hi;
  if (requant_act_bounds_s16(op.act, op.lo, op.hi, false, *q.rq, &lo, &hi)) {
    const __m256i lo16 = _mm256_set1_epi16(lo), hi16 = _mm256_set1_epi16(hi);
    if (lean) return run_lean_taps<LeanFinish::clamp16>(w, r, scale, bias, q, lo16, hi16);
    return run_taps(w, r, scale, bias, StoreS8Finite<true>{&q, w.C, lo16, hi16});
  }
  if (lean) return run_lean_taps<LeanFinish::finite>(w, r, scale, bias, q, zero, zero);
  run_taps(w, r, scale, bias, StoreS8Finite<false>{&q, w.C, zero, zero});
}

}  // namespace nnslim
