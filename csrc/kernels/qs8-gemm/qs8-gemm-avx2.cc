// AVX2 path, two layouts chosen at pack time, both exact for every int8 activation:
//
// layout 1 (weights in [-127, 127], what nnslim's symmetric quantizer produces): s8 panels
//   [Kp / 4][16 columns][4]. a * w = |a| * (w * sign(a)): vpabsb / vpsignb turn the product into
//   vpmaddubsw's u8 x s8 form without saturation (|a| <= 128, |w * sign(a)| <= 127, so a pair sums
//   to at most 32512), vpmaddwd with ones widens the pairs to s32. Activations are read as they are
//   and the packed weights take half layout 0's memory. Both issue two multiplies per 32 products
//   (exactness rules out fbgemm's trick of summing two vpmaddubsw results in 16 bits), but the sign
//   steps make it 0.88-0.95x layout 0 on signed activations (ResNet-50's 1x1 convs, Zen 3). A row
//   block whose activations are all in [0, 127] (7-bit activations, checked per block: rows_nonneg)
//   skips vpabsb / vpsignb, as torch.ao's x86 kernels do with their 7-bit activations: 1.2-1.3x
//   layout 0.
// layout 0 (any weights, -128 included; chosen for PackHint::signed_activations): both operands
//   widened to s16, vpmaddwd (s16 x s16 -> s32 pairs); panels [Kp / 2][16 columns][2] int16,
//   activations widened per row block.
// Micro-tile: 6 rows x 16 columns (12 accumulators). An int8 output is requantized from the tile's
// accumulators (requant_tile), with the block finisher's operations (kernels/common/finish-avx2-inl.h).
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "../common/finish-avx2-inl.h"
#include "../qs8-winograd/qs8-winograd.h"
#include "qs8-gemm.h"

namespace nnslim {

namespace {

constexpr int kNR = 16, kMR = 6, kMC = 66;

inline void store_row(const GemmProblem& p, int m, int n0, int nvalid, __m256i lo, __m256i hi) {
  if (nvalid < kNR) {
    alignas(32) int32_t tmp[kNR];
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), lo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + 8), hi);
    qs8_store_row_scalar(p, m, n0, nvalid, tmp);
    return;
  }
  if (p.epilogue == Epilogue::store_s32) {
    int32_t* c = p.C32 + m * p.ldc + n0;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + 8), hi);
    return;
  }
  float* c = p.Cf + m * p.ldc + n0;
  const __m256 sa = _mm256_set1_ps(p.a_scale[m]);
  if (p.a_zero_point) {  // unsigned codes (qs8_linear_dynamic_f32, 7 bits): zp * colsum back out
    const __m256i z = _mm256_set1_epi32(p.a_zero_point[m]);
    const int32_t* cs = p.B->colsum.data() + n0;
    lo = _mm256_sub_epi32(lo, _mm256_mullo_epi32(z, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cs))));
    hi = _mm256_sub_epi32(hi, _mm256_mullo_epi32(z, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(cs + 8))));
  }
  const __m256i acc[2] = {lo, hi};
  for (int h = 0; h < 2; ++h) {
    const __m256 s = _mm256_mul_ps(sa, _mm256_loadu_ps(p.b_scale + n0 + 8 * h));
    const __m256 prod = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[h]), s);
    if (p.epilogue == Epilogue::accum_f32) {
      _mm256_storeu_ps(c + 8 * h, _mm256_add_ps(_mm256_loadu_ps(c + 8 * h), prod));
    } else {
      const __m256 b = p.bias ? _mm256_loadu_ps(p.bias + n0 + 8 * h) : _mm256_setzero_ps();
      __m256 y = _mm256_add_ps(prod, b);
      if (p.relu) y = _mm256_max_ps(_mm256_setzero_ps(), y);  // NaN and -0.0 pass, as in ref
      _mm256_storeu_ps(c + 8 * h, y);
    }
  }
}

// What an int8-output epilogue decides once per GEMM call (requant_context).
struct RequantContext {
  bool rows_finite = false;  // the residual and every row's a_scale within kFiniteBound
  bool clamp16 = false;      // ReLU / clamp run on the rounded int16 values, between lo16 and hi16
  int16_t lo16 = 0, hi16 = 0;
};

// Whether every value of rows [m0, m1) can be finite whatever its int32 accumulators hold (with
// finite columns, checked per tile): |acc| < 2^31, so |acc * a_scale * b_scale + bias| stays far below
// FLT_MAX for scales and biases within kFiniteBound, an int8 residual adds at most 128 * res_scale,
// and the activations keep finite values finite (as qs8_block_is_finite in qs8-epilogue-avx512-inl.h).
// With finite values the requantizer skips the NaN / infinity handling, and ReLU / clamp run after
// rounding, in int16 (finish_requant256_finite_pair_clamped; exact, see there). (The GEMM's relu
// flag comes before a residual: with both, the activation stays in float.)
RequantContext requant_context(const GemmProblem& p, int m0, int m1) {
  RequantContext rc;
  const PostOp& op = *p.post;
  rc.rows_finite = finish_residual_bounded(op);
  for (int m = m0; m < m1 && rc.rows_finite; ++m) rc.rows_finite = std::fabs(p.a_scale[m]) <= kFiniteBound;
  rc.clamp16 = rc.rows_finite && (op.act == Activation::none || op.act == Activation::relu || op.act == Activation::clamp) &&
               !(p.relu && op.has_residual()) && requant_act_bounds_s16(op.act, op.lo, op.hi, p.relu, *p.rq, &rc.lo16, &rc.hi16);
  return rc;
}

// Epilogue::requant_s8 of a tile of `rows` rows (problem rows m0..) x nvalid <= 16 columns (from
// n0) whose int32 results sit in c (row stride 16): per value the fp32 result store_row would write
// (dequantize, bias, ReLU), then the block finisher's residual, activation and requantization
// (finish-avx2-inl.h), without the fp32 round trip through memory. Everything that depends only on
// the column is read once per tile, everything that depends on neither once per call
// (RequantContext): at short K (MobileNet's 1x1 convs) the epilogue costs as much as the multiplies.
// A partial tile (Partial: nvalid < 16) computes all 16 lanes from masked loads (zero scales and
// biases past nvalid: finite, discarded) and stores nvalid bytes; a Half one (nvalid <= 8) computes
// only the first 8 lanes, and at nvalid == 8 reads its residual and stores its bytes in place.
template <Activation A, bool Partial, bool Half = false>
__attribute__((noinline)) void requant_tile(const GemmProblem& p, const RequantContext& rc, int m0, int rows, int n0,
                                            int nvalid, const int32_t* c) {
  PostOp op = *p.post;  // local copies: the int8 stores could alias *p.post and *p.rq
  op.act = A;
  const Requant rq = *p.rq;
  const float* a_scale = p.a_scale;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mk0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nvalid), lane);
  const __m256i mk1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nvalid - 8), lane);
  auto load = [&](const float* v) {  // 16 column values, zeros past nvalid when Partial
    if constexpr (Partial) return std::make_pair(_mm256_maskload_ps(v, mk0), _mm256_maskload_ps(v + 8, mk1));
    return std::make_pair(_mm256_loadu_ps(v), _mm256_loadu_ps(v + 8));
  };
  const auto [bs0, bs1] = load(p.b_scale + n0);
  const auto [b0, b1] = p.bias ? load(p.bias + n0) : std::make_pair(_mm256_setzero_ps(), _mm256_setzero_ps());
  // Masked-off lanes were loaded as 0.
  const bool finite = rc.rows_finite && !(finish_unbounded256(bs0) || finish_unbounded256(bs1) ||
                                          finish_unbounded256(b0) || finish_unbounded256(b1));
  const __m256i lo16 = _mm256_set1_epi16(rc.lo16), hi16 = _mm256_set1_epi16(rc.hi16);
  int8_t* cq0 = p.Cq + size_t(m0) * p.ldcq + n0;
  const size_t base0 = size_t(p.post_row0 + m0) * op.ldr + p.post_col0 + n0;
  // A partial tile's residual row is copied to 16 local values that finish_residual256 reads whole.
  alignas(32) float res_f[kNR] = {};
  alignas(16) int8_t res_q[kNR] = {};
  PostOp rop = op;
  const bool eight = Half && nvalid == kNR / 2;  // whole 8-value halves: no local copies
  const bool copy_res = Partial && !eight;
  if (copy_res) rop.residual = op.residual ? res_f : nullptr, rop.residual_q = op.residual_q ? res_q : nullptr;
  // One loop per (finite, clamp16) case, chosen once per tile.
  auto run = [&](auto finite_tag, auto clamp_tag) {
    constexpr bool Finite = decltype(finite_tag)::value, Clamp16 = decltype(clamp_tag)::value;
    const bool relu = p.relu && !Clamp16;  // else part of lo16
    int8_t* cq = cq0;
    size_t base = base0;
    const int32_t* acc = c;
    for (int r = 0; r < rows; ++r, acc += kNR, cq += p.ldcq, base += op.ldr) {
      const __m256 sa = _mm256_set1_ps(a_scale[m0 + r]);
      __m256 y0 = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(acc))),
                                              _mm256_mul_ps(sa, bs0)), b0);
      __m256 y1 = Half ? _mm256_setzero_ps()
                       : _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(acc + 8))),
                                                     _mm256_mul_ps(sa, bs1)), b1);
      if (relu) {  // NaN and -0.0 pass, as in ref
        y0 = _mm256_max_ps(_mm256_setzero_ps(), y0);
        y1 = _mm256_max_ps(_mm256_setzero_ps(), y1);
      }
      size_t rb = base;
      if (copy_res) {
        if (op.residual) std::memcpy(res_f, op.residual + base, sizeof(float) * size_t(nvalid));
        if (op.residual_q) std::memcpy(res_q, op.residual_q + base, size_t(nvalid));
        rb = 0;
      }
      y0 = finish_residual256(y0, rop, rb);
      if constexpr (!Half) y1 = finish_residual256(y1, rop, rb + 8);
      __m128i q;
      if constexpr (Clamp16) {
        q = finish_requant256_finite_pair_clamped(y0, y1, rq, lo16, hi16);
      } else if constexpr (Finite) {
        q = finish_pair_s16_to_s8_256(finish_pack_pair_s16_256(finish_activate256(y0, op), finish_activate256(y1, op), rq), rq);
      } else {
        q = finish_pack16_s8(finish_requant256(finish_activate256(y0, op), rq), finish_requant256(finish_activate256(y1, op), rq));
      }
      if (eight) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(cq), q);
      } else if constexpr (Partial) {
        alignas(16) int8_t tmp[kNR];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp), q);
        std::memcpy(cq, tmp, size_t(nvalid));
      } else {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(cq), q);
      }
    }
  };
  constexpr bool kClampable = A == Activation::none || A == Activation::relu || A == Activation::clamp;
  if (!finite)
    run(std::false_type{}, std::false_type{});
  else if (kClampable && rc.clamp16)
    run(std::true_type{}, std::bool_constant<kClampable>{});
  else
    run(std::true_type{}, std::false_type{});
}

// requant_tile for the post-op's activation and the tile's width (template arguments, so each loop
// has one).
void requant_tile_any(const GemmProblem& p, const RequantContext& rc, int m0, int rows, int n0, int nvalid,
                      const int32_t* c) {
  const bool part = nvalid < kNR, half = nvalid <= kNR / 2;
  switch (p.post->act) {
#define NNSLIM_REQUANT_CASE(act)                                                                      \
  case Activation::act:                                                                               \
    return half   ? requant_tile<Activation::act, true, true>(p, rc, m0, rows, n0, nvalid, c)         \
           : part ? requant_tile<Activation::act, true>(p, rc, m0, rows, n0, nvalid, c)               \
                  : requant_tile<Activation::act, false>(p, rc, m0, rows, n0, nvalid, c);
    NNSLIM_REQUANT_CASE(none)
    NNSLIM_REQUANT_CASE(relu)
    NNSLIM_REQUANT_CASE(clamp)
    NNSLIM_REQUANT_CASE(hardswish)
    NNSLIM_REQUANT_CASE(hardsigmoid)
#undef NNSLIM_REQUANT_CASE
  }
}

// Accumulators are named variables, not an array: with an array GCC spills them every iteration.
// Both layouts' micro-kernels declare and store them the same way.
#define NNSLIM_AVX2_ACCUMULATORS                                                                    \
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, \
          c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
#define NNSLIM_AVX2_STORE_TILE                                              \
  const int n0 = panel * kNR;                                               \
  const int nvalid = B.N - n0 < kNR ? B.N - n0 : kNR;                       \
  if (p.epilogue == Epilogue::requant_s8) {                                               \
    alignas(32) int32_t tile[kMR * kNR];                                    \
    __m256i* t = reinterpret_cast<__m256i*>(tile);                          \
    _mm256_store_si256(t, c00);                                             \
    _mm256_store_si256(t + 1, c01);                                         \
    if constexpr (MR > 1) _mm256_store_si256(t + 2, c10), _mm256_store_si256(t + 3, c11); \
    if constexpr (MR > 2) _mm256_store_si256(t + 4, c20), _mm256_store_si256(t + 5, c21); \
    if constexpr (MR > 3) _mm256_store_si256(t + 6, c30), _mm256_store_si256(t + 7, c31); \
    if constexpr (MR > 4) _mm256_store_si256(t + 8, c40), _mm256_store_si256(t + 9, c41); \
    if constexpr (MR > 5) _mm256_store_si256(t + 10, c50), _mm256_store_si256(t + 11, c51); \
    requant_tile_any(p, *rc, m, MR, n0, nvalid, tile);                                 \
    return;                                                                 \
  }                                                                         \
  store_row(p, m, n0, nvalid, c00, c01);                                    \
  if constexpr (MR > 1) store_row(p, m + 1, n0, nvalid, c10, c11);          \
  if constexpr (MR > 2) store_row(p, m + 2, n0, nvalid, c20, c21);          \
  if constexpr (MR > 3) store_row(p, m + 3, n0, nvalid, c30, c31);          \
  if constexpr (MR > 4) store_row(p, m + 4, n0, nvalid, c40, c41);          \
  if constexpr (MR > 5) store_row(p, m + 5, n0, nvalid, c50, c51);
#define NNSLIM_AVX2_ROW(r)                                            \
  if constexpr (MR > r) {                                             \
    int32_t pair;                                                     \
    __builtin_memcpy(&pair, a16 + r * lda16 + 2 * kk, 4);             \
    const __m256i va = _mm256_set1_epi32(pair);                       \
    c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(b0, va));   \
    if constexpr (!Half)                                              \
      c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(b1, va)); \
  }

// noinline: each tile size gets its own register allocation instead of sharing the driver's.
// Half: as ukernel_s8's (a last panel of <= 8 columns multiplies only those).
template <int MR, bool Half = false>
__attribute__((noinline)) void ukernel(const GemmProblem& p, const RequantContext* rc, const int16_t* a16, size_t lda16,
                                       int m, int panel) {
  const PackedB& B = *p.B;
  const int16_t* w = reinterpret_cast<const int16_t*>(B.data + size_t(panel) * B.bytes_per_panel) +
                     size_t(p.k0 / 2) * 2 * kNR;
  const int kpairs = (p.k1 - p.k0) / 2;
  NNSLIM_AVX2_ACCUMULATORS
  for (int kk = 0; kk < kpairs; ++kk) {
    const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
    const __m256i b1 = Half ? b0 : _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 16));
    w += 2 * kNR;
    NNSLIM_AVX2_ROW(0)
    NNSLIM_AVX2_ROW(1)
    NNSLIM_AVX2_ROW(2)
    NNSLIM_AVX2_ROW(3)
    NNSLIM_AVX2_ROW(4)
    NNSLIM_AVX2_ROW(5)
  }
  NNSLIM_AVX2_STORE_TILE
}

#undef NNSLIM_AVX2_ROW

// Layout 0: rows [mc, mc + mrows) of one panel, their activations widened in a16 (row stride klen).
template <bool Half>
void gemm_s16_panel(const GemmProblem& p, const RequantContext* rc, const int16_t* a16, int klen, int mc, int mrows,
                    int panel) {
  int r = 0;
  for (; r + kMR <= mrows; r += kMR) ukernel<kMR, Half>(p, rc, a16 + size_t(r) * klen, klen, mc + r, panel);
  switch (mrows - r) {
    case 5: ukernel<5, Half>(p, rc, a16 + size_t(r) * klen, klen, mc + r, panel); break;
    case 4: ukernel<4, Half>(p, rc, a16 + size_t(r) * klen, klen, mc + r, panel); break;
    case 3: ukernel<3, Half>(p, rc, a16 + size_t(r) * klen, klen, mc + r, panel); break;
    case 2: ukernel<2, Half>(p, rc, a16 + size_t(r) * klen, klen, mc + r, panel); break;
    case 1: ukernel<1, Half>(p, rc, a16 + size_t(r) * klen, klen, mc + r, panel); break;
    default: break;
  }
}

// NonNeg: every activation of the row block is in [0, 127] (rows_nonneg), so vpmaddubsw reads them
// as they are, without vpabsb / vpsignb: 3 vector ops per 32 products instead of 4.5, and still exact
// (a pair sums to at most 2 * 127 * 128 = 32512).
#define NNSLIM_AVX2_ROW_S8(r)                                                                      \
  if constexpr (MR > r) {                                                                          \
    int32_t quad;                                                                                  \
    __builtin_memcpy(&quad, a + r * lda + 4 * kk, 4);                                              \
    const __m256i va = _mm256_set1_epi32(quad);                                                    \
    if constexpr (NonNeg) {                                                                        \
      c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(_mm256_maddubs_epi16(va, b0), ones));   \
      if constexpr (!Half)                                                                         \
        c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(_mm256_maddubs_epi16(va, b1), ones)); \
    } else {                                                                                       \
      const __m256i ua = _mm256_abs_epi8(va);                                                      \
      c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(_mm256_maddubs_epi16(ua, _mm256_sign_epi8(b0, va)), ones)); \
      if constexpr (!Half)                                                                         \
        c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(_mm256_maddubs_epi16(ua, _mm256_sign_epi8(b1, va)), ones)); \
    }                                                                                              \
  }

// Half: the panel's columns 8..15 are padding (the last panel of N % 16 in 1..8: MobileNets' 24, 40,
// 72, 120 channels, a 1000-class head), so only the first 8 columns are multiplied; the tile's other
// accumulators stay zero and the epilogue never stores them.
template <int MR, bool NonNeg, bool Half = false>
__attribute__((noinline)) void ukernel_s8(const GemmProblem& p, const RequantContext* rc, const int8_t* a, size_t lda, int m,
                                          int panel) {
  const PackedB& B = *p.B;
  const int8_t* w = reinterpret_cast<const int8_t*>(B.data + size_t(panel) * B.bytes_per_panel) +
                    size_t(p.k0 / 4) * 4 * kNR;
  const int kquads = (p.k1 - p.k0) / 4;
  const __m256i ones = _mm256_set1_epi16(1);
  NNSLIM_AVX2_ACCUMULATORS
  for (int kk = 0; kk < kquads; ++kk) {
    const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(w));
    const __m256i b1 = Half ? b0 : _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32));
    w += 4 * kNR;
    NNSLIM_AVX2_ROW_S8(0)
    NNSLIM_AVX2_ROW_S8(1)
    NNSLIM_AVX2_ROW_S8(2)
    NNSLIM_AVX2_ROW_S8(3)
    NNSLIM_AVX2_ROW_S8(4)
    NNSLIM_AVX2_ROW_S8(5)
  }
  NNSLIM_AVX2_STORE_TILE
}

#undef NNSLIM_AVX2_ROW_S8
#undef NNSLIM_AVX2_ACCUMULATORS
#undef NNSLIM_AVX2_STORE_TILE

// Whether rows [0, rows) of A hold no negative byte in columns [0, klen) (klen a multiple of 4): one
// OR per 32 bytes, stopping at the first row with a sign bit set. About 1% of the block's GEMM at
// ResNet's narrowest (64 output channels); s8 activations with a -128 zero point stop in the first
// vector. Activations quantized onto [0, 127] (Int8StaticConfig(activation_bits=7)) pass.
bool rows_nonneg(const int8_t* A, size_t lda, int rows, int klen) {
  if (lda == size_t(klen)) {  // one contiguous block (im2col rows, a pointwise conv's input): flat
    klen *= rows;
    rows = 1;
  }
  for (int r = 0; r < rows; ++r) {
    const int8_t* a = A + size_t(r) * lda;
    __m256i acc = _mm256_setzero_si256();
    int k = 0;
    for (; k + 32 <= klen; k += 32) acc = _mm256_or_si256(acc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + k)));
    int32_t tail = 0;
    for (; k < klen; k += 4) {
      int32_t quad;
      std::memcpy(&quad, a + k, 4);
      tail |= quad;
    }
    if (_mm256_movemask_epi8(acc) != 0 || (tail & int32_t(0x80808080u)) != 0) return false;
  }
  return true;
}

template <bool NonNeg, bool Half>
void gemm_s8_panel(const GemmProblem& p, const RequantContext* rc, const int8_t* A, int mc, int mend, int panel) {
  int m = mc;
  for (; m + kMR <= mend; m += kMR) ukernel_s8<kMR, NonNeg, Half>(p, rc, A + m * p.lda, p.lda, m, panel);
  switch (mend - m) {
    case 5: ukernel_s8<5, NonNeg, Half>(p, rc, A + m * p.lda, p.lda, m, panel); break;
    case 4: ukernel_s8<4, NonNeg, Half>(p, rc, A + m * p.lda, p.lda, m, panel); break;
    case 3: ukernel_s8<3, NonNeg, Half>(p, rc, A + m * p.lda, p.lda, m, panel); break;
    case 2: ukernel_s8<2, NonNeg, Half>(p, rc, A + m * p.lda, p.lda, m, panel); break;
    case 1: ukernel_s8<1, NonNeg, Half>(p, rc, A + m * p.lda, p.lda, m, panel); break;
    default: break;
  }
}

template <bool NonNeg>
void gemm_s8_block(const GemmProblem& p, const RequantContext* rc, const int8_t* A, int mc, int mend, int p0, int p1) {
  for (int panel = p0; panel < p1; ++panel) {
    if (p.B->N - panel * kNR <= kNR / 2)
      gemm_s8_panel<NonNeg, true>(p, rc, A, mc, mend, panel);
    else
      gemm_s8_panel<NonNeg, false>(p, rc, A, mc, mend, panel);
  }
}

// Layout 1, one row block at a time, each on the kernel its activations allow.
void gemm_s8(const GemmProblem& p, const RequantContext* rc, int m0, int m1, int p0, int p1) {
  const int8_t* A = p.A + p.k0;
  for (int mc = m0; mc < m1; mc += kMC) {
    const int mend = m1 - mc < kMC ? m1 : mc + kMC;
    if (rows_nonneg(A + mc * p.lda, p.lda, mend - mc, p.k1 - p.k0))
      gemm_s8_block<true>(p, rc, A, mc, mend, p0, p1);
    else
      gemm_s8_block<false>(p, rc, A, mc, mend, p0, p1);
  }
}

}  // namespace

void nnslim_qs8_gemm_pack__avx2(const int8_t* B, int N, int K, PackedB* out) {
  bool has_min = false;  // -128 would overflow w * sign(a) in layout 1
  for (size_t i = 0, n = size_t(N) * K; i < n && !has_min; ++i) has_min = B[i] == -128;
  if (!has_min && out->hint != PackHint::signed_activations) {
    const int Kp4 = round_up(K, 4);
    qs8_alloc_panels(out, N, K, Kp4, kNR, size_t(Kp4) * kNR);
    qs8_pack_k4_panels(B, N, K, out, 0);
    out->layout = 1;
    qs8_column_sums(B, N, K, out);  // |zp * colsum| <= 127 * 127 * K: int32 for K <= kChunkK, where used
    return;
  }
  out->layout = 0;
  const int Kp = round_up(K, 2);
  qs8_alloc_panels(out, N, K, Kp, kNR, size_t(Kp) * kNR * sizeof(int16_t));
  for (int p = 0; p < out->num_panels; ++p) {
    int16_t* dst = reinterpret_cast<int16_t*>(out->data + size_t(p) * out->bytes_per_panel);
    for (int kk = 0; kk < Kp / 2; ++kk)
      for (int j = 0; j < kNR; ++j)
        for (int i = 0; i < 2; ++i) {
          const int n = p * kNR + j, k = 2 * kk + i;
          dst[(size_t(kk) * kNR + j) * 2 + i] = (n < N && k < K) ? B[size_t(n) * K + k] : 0;
        }
  }
}

int8_t nnslim_qs8_gemm_weight__avx2(const PackedB& B, int n, int k) {
  const uint8_t* panel = B.data + size_t(n / kNR) * B.bytes_per_panel;
  if (B.layout == 1) return int8_t(panel[(size_t(k / 4) * kNR + n % kNR) * 4 + k % 4]);
  return int8_t(reinterpret_cast<const int16_t*>(panel)[(size_t(k / 2) * kNR + n % kNR) * 2 + k % 2]);
}

void nnslim_qs8_store_acc__avx2(const GemmProblem& p, int m0, int rows, int n0, int nvalid, const int32_t* c) {
  if (p.epilogue == Epilogue::requant_s8) {
    const RequantContext rc = requant_context(p, m0, m0 + rows);
    requant_tile_any(p, rc, m0, rows, n0, nvalid, c);
    return;
  }
  for (int r = 0; r < rows; ++r, c += kNR)
    store_row(p, m0 + r, n0, nvalid, _mm256_load_si256(reinterpret_cast<const __m256i*>(c)),
              _mm256_load_si256(reinterpret_cast<const __m256i*>(c + 8)));
}

void nnslim_qs8_gemm__avx2(const GemmProblem& p, int m0, int m1, int p0, int p1) {
  RequantContext ctx;
  if (p.epilogue == Epilogue::requant_s8) ctx = requant_context(p, m0, m1);
  const RequantContext* rc = &ctx;
  if (p.B->layout == 1) return gemm_s8(p, rc, m0, m1, p0, p1);
  const int klen = p.k1 - p.k0;
  std::vector<int16_t> a16_big;
  int16_t* a16 = thread_scratch<int16_t, 0>(size_t(kMC) * klen, &a16_big);
  for (int mc = m0; mc < m1; mc += kMC) {
    const int mrows = m1 - mc < kMC ? m1 - mc : kMC;
    for (int r = 0; r < mrows; ++r) {
      const int8_t* src = p.A + (mc + r) * p.lda + p.k0;
      int16_t* dst = a16 + size_t(r) * klen;
      for (int k = 0; k < klen; ++k) dst[k] = src[k];
    }
    for (int panel = p0; panel < p1; ++panel) {
      if (p.B->N - panel * kNR <= kNR / 2)
        gemm_s16_panel<true>(p, rc, a16, klen, mc, mrows, panel);
      else
        gemm_s16_panel<false>(p, rc, a16, klen, mc, mrows, panel);
    }
  }
}

}  // namespace nnslim
