// AVX-512 epilogue for 16 int32 accumulators of one output row; shared by the VNNI and AMX files
// (both compiled with AVX-512 flags). Same float operation order as ref::dequant_epilogue.
#pragma once
#include <immintrin.h>

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

}  // namespace
}  // namespace nnslim
