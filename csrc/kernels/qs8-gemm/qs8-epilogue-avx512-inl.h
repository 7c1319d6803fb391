// AVX-512 epilogue for 16 int32 accumulators of one output row; shared by the VNNI and AMX files
// (both compiled with AVX-512 flags). Same float operation order as ref::dequant_epilogue.
#pragma once
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "../common/finish-avx512-inl.h"
#include "qs8-gemm.h"

namespace nnslim {
namespace {  // internal linkage: only AVX-512 files include this (see kernels/common/)

inline void qs8_store16_avx512(const GemmProblem& p, int m, int n, int nvalid, __m512i acc) {
  const __mmask16 mk = nvalid >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nvalid) - 1);
  if (p.epilogue == Epilogue::store_s32) {
    _mm512_mask_storeu_epi32(p.C32 + m * p.ldc + n, mk, acc);
    return;
  }
  float* c = p.Cf + m * p.ldc + n;
  const __m512 s = _mm512_mul_ps(_mm512_set1_ps(p.a_scale[m]), _mm512_maskz_loadu_ps(mk, p.b_scale + n));
  const __m512 prod = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), s);
  if (p.epilogue == Epilogue::accum_f32) {
    _mm512_mask_storeu_ps(c, mk, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, c), prod));
    return;
  }
  const __m512 b = p.bias ? _mm512_maskz_loadu_ps(mk, p.bias + n) : _mm512_setzero_ps();
  __m512 y = _mm512_add_ps(prod, b);
  if (p.relu) y = _mm512_max_ps(_mm512_setzero_ps(), y);  // NaN and -0.0 pass, as in ref
  if (p.epilogue == Epilogue::requant_s8) {
    const PostOp& op = *p.post;
    y = finish_residual512(y, op, size_t(p.post_row0 + m) * op.ldr + p.post_col0 + n, mk);
    y = finish_activate512(y, op);
    _mm_mask_storeu_epi8(p.Cq + m * p.ldcq + n, mk, finish_requant512(y, *p.rq));
    return;
  }
  _mm512_mask_storeu_ps(c, mk, y);
}

// The epilogue of a block of `rows` output rows (problem rows m0..) x nvalid <= 32 columns (from n0)
// whose int32 results sit in c (row stride 32, as AMX tiles are stored): the same float operations
// as qs8_store16_avx512 value by value, with everything that depends only on the column (weight
// scale, bias, masks, the activation's kind and constants) read once per block instead of once per
// 16 values. At short K the epilogue costs as much as the tile work, so this matters.
// What a block epilogue reads once per block of <= 32 columns (from n0): the masks of its two
// 16-column halves, their weight scales and biases.
struct BlockColumns {
  bool two;
  __mmask16 mk0, mk1;
  __m512 bs0, bs1, b0, b1;
  BlockColumns(const GemmProblem& p, int n0, int nvalid)
      : two(nvalid > 16),
        mk0(nvalid >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nvalid) - 1)),
        mk1(nvalid <= 16 ? __mmask16(0) : nvalid >= 32 ? __mmask16(0xFFFF) : __mmask16((1u << (nvalid - 16)) - 1)) {
    bs0 = _mm512_maskz_loadu_ps(mk0, p.b_scale + n0);
    bs1 = _mm512_maskz_loadu_ps(mk1, p.b_scale + n0 + 16);
    b0 = p.bias ? _mm512_maskz_loadu_ps(mk0, p.bias + n0) : _mm512_setzero_ps();
    b1 = p.bias ? _mm512_maskz_loadu_ps(mk1, p.bias + n0 + 16) : _mm512_setzero_ps();
  }
  // Half h of one row: float(acc) * (a_scale * b_scale) + bias, then ReLU (qs8_store16_avx512's order).
  __m512 dequant(const int32_t* c, __m512 as, int h, bool relu) const {
    return dequant_scaled(c, _mm512_mul_ps(as, h ? bs1 : bs0), h, relu);
  }
  // a_scale * b_scale of half h, for dequant_scaled.
  __m512 scale(float a_scale, int h) const { return _mm512_mul_ps(_mm512_set1_ps(a_scale), h ? bs1 : bs0); }
  // dequant with the row's a_scale * b_scale already multiplied (scale()).
  __m512 dequant_scaled(const int32_t* c, __m512 s, int h, bool relu) const {
    const __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * h)), s), h ? b1 : b0);
    return relu ? _mm512_max_ps(_mm512_setzero_ps(), y) : y;
  }
};

// Whether every value a block's epilogue computes is finite whatever the int32 accumulators hold:
// |acc| < 2^31, so |acc * a_scale * b_scale + bias| stays far below FLT_MAX for bounded finite scales
// and biases, and an int8 residual adds at most 128 * res_scale; the activations keep finite values
// finite. Then the requantizer needs no NaN / infinity handling.
inline bool qs8_block_is_finite(const GemmProblem& p, int m0, int rows, const BlockColumns& col) {
  if (!finish_residual_bounded(*p.post)) return false;
  for (int r = 0; r < rows; ++r)
    if (!(std::fabs(p.a_scale[m0 + r]) <= kFiniteBound)) return false;  // NaN fails too
  // Masked-off lanes were loaded as 0.
  return (finish_unbounded512(col.bs0) | finish_unbounded512(col.bs1) | finish_unbounded512(col.b0) |
          finish_unbounded512(col.b1)) == 0;
}

// The epilogue of a block of `rows` output rows (problem rows m0..) x nvalid <= 32 columns (from n0)
// whose int32 results sit in c (row stride 32, as AMX tiles are stored): the same float operations
// as qs8_store16_avx512 value by value, with everything that depends only on the column (weight
// scale, bias, masks, the activation's kind and constants) read once per block instead of once per
// 16 values, and the NaN handling skipped where no value can be NaN. At short K the epilogue costs
// as much as the tile work, so this matters.
template <Activation A, bool Finite>
inline void qs8_requant_block32(const GemmProblem& p, int m0, int rows, int n0, const BlockColumns& col,
                                const int32_t* c) {
  const PostOp& op = *p.post;
  const Requant rq = *p.rq;
  const bool relu = p.relu, res = op.has_residual();
  PostOp act_only = op;  // finish_activate512 reads only act / lo / hi: a local copy stays in registers
  act_only.act = A;
  // Locals, not p's fields: the byte stores below could alias them as far as the compiler knows.
  const float* a_scale = p.a_scale;
  const size_t ldcq = p.ldcq, ldr = op.ldr;
  int8_t* cq = p.Cq + size_t(m0) * ldcq + n0;
  size_t rbase = size_t(p.post_row0 + m0) * ldr + p.post_col0 + n0;
  // a_scale * b_scale once per run of rows with one scale (every row of an image, static inputs).
  float a_prev = std::numeric_limits<float>::quiet_NaN();  // NaN != anything: the first row computes
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  auto row_scales = [&](int r) {
    const float a = a_scale[m0 + r];
    if (!(a == a_prev)) {
      s0 = col.scale(a, 0);
      s1 = col.scale(a, 1);
      a_prev = a;
    }
  };
  const __mmask32 mk32 = __mmask32(col.mk0) | (__mmask32(col.mk1) << 16);
  // ReLU / clamp on finite values: the activation runs on the rounded int16 values (two integer ops
  // per 32 outputs instead of a compare-and-blend clamp per 16), after the residual add in float.
  if constexpr (Finite && (A == Activation::none || A == Activation::relu || A == Activation::clamp)) {
    int16_t lo, hi;
    if (col.two && !(relu && res) && requant_act_bounds_s16(A, op.lo, op.hi, relu, rq, &lo, &hi)) {
      const __m512i lo16 = _mm512_set1_epi16(lo), hi16 = _mm512_set1_epi16(hi);
      // (The GEMM's relu flag comes before a residual: with one, that case takes the float path.)
      for (int r = 0; r < rows; ++r, c += 32, cq += ldcq, rbase += ldr) {
        row_scales(r);
        __m512 y0 = col.dequant_scaled(c, s0, 0, false), y1 = col.dequant_scaled(c, s1, 1, false);
        if (res) {
          y0 = finish_residual512(y0, op, rbase, col.mk0);
          y1 = finish_residual512(y1, op, rbase + 16, col.mk1);
        }
        _mm256_mask_storeu_epi8(cq, mk32, finish_requant512_finite_pair_clamped(y0, y1, rq, lo16, hi16));
      }
      return;
    }
  }
  for (int r = 0; r < rows; ++r, c += 32, cq += ldcq, rbase += ldr) {
    row_scales(r);
    __m512 y0 = col.dequant_scaled(c, s0, 0, relu);
    if (res) y0 = finish_residual512(y0, op, rbase, col.mk0);
    y0 = finish_activate512(y0, act_only);
    if (!col.two) {
      _mm_mask_storeu_epi8(cq, col.mk0, Finite ? finish_requant512_finite(y0, rq) : finish_requant512(y0, rq));
      continue;
    }
    __m512 y1 = col.dequant_scaled(c, s1, 1, relu);
    if (res) y1 = finish_residual512(y1, op, rbase + 16, col.mk1);
    y1 = finish_activate512(y1, act_only);
    if (Finite) {
      _mm256_mask_storeu_epi8(cq, mk32, finish_requant512_finite_pair(y0, y1, rq));
    } else {
      _mm_mask_storeu_epi8(cq, col.mk0, finish_requant512(y0, rq));
      _mm_mask_storeu_epi8(cq + 16, col.mk1, finish_requant512(y1, rq));
    }
  }
}

template <Activation A>
inline void qs8_requant_block32_any(const GemmProblem& p, int m0, int rows, int n0, int nvalid, const int32_t* c) {
  const BlockColumns col(p, n0, nvalid);
  if (qs8_block_is_finite(p, m0, rows, col))
    qs8_requant_block32<A, true>(p, m0, rows, n0, col, c);
  else
    qs8_requant_block32<A, false>(p, m0, rows, n0, col, c);
}

// Epilogue::store_f32 over a block, as qs8_requant_block32 does for int8 outputs.
inline void qs8_store_f32_block32(const GemmProblem& p, int m0, int rows, int n0, int nvalid, const int32_t* c) {
  const BlockColumns col(p, n0, nvalid);
  const float* a_scale = p.a_scale;
  const size_t ldc = p.ldc;
  const bool relu = p.relu;
  float* y = p.Cf + size_t(m0) * ldc + n0;
  for (int r = 0; r < rows; ++r, c += 32, y += ldc) {
    const __m512 as = _mm512_set1_ps(a_scale[m0 + r]);
    _mm512_mask_storeu_ps(y, col.mk0, col.dequant(c, as, 0, relu));
    if (col.two) _mm512_mask_storeu_ps(y + 16, col.mk1, col.dequant(c, as, 1, relu));
  }
}

inline void qs8_store_block32_avx512(const GemmProblem& p, int m0, int rows, int n0, int nvalid, const int32_t* c) {
  if (p.epilogue == Epilogue::store_f32) return qs8_store_f32_block32(p, m0, rows, n0, nvalid, c);
  if (p.epilogue == Epilogue::requant_s8) {
    switch (p.post->act) {
      case Activation::none:
        return qs8_requant_block32_any<Activation::none>(p, m0, rows, n0, nvalid, c);
      case Activation::relu:
        return qs8_requant_block32_any<Activation::relu>(p, m0, rows, n0, nvalid, c);
      case Activation::clamp:
        return qs8_requant_block32_any<Activation::clamp>(p, m0, rows, n0, nvalid, c);
      case Activation::hardswish:
        return qs8_requant_block32_any<Activation::hardswish>(p, m0, rows, n0, nvalid, c);
      case Activation::hardsigmoid:
        return qs8_requant_block32_any<Activation::hardsigmoid>(p, m0, rows, n0, nvalid, c);
    }
  }
  for (int r = 0; r < rows; ++r) {
    qs8_store16_avx512(p, m0 + r, n0, nvalid, _mm512_load_si512(c + r * 32));
    if (nvalid > 16) qs8_store16_avx512(p, m0 + r, n0 + 16, nvalid - 16, _mm512_load_si512(c + r * 32 + 16));
  }
}

}  // namespace
}  // namespace nnslim
