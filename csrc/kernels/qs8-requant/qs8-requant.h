// Finishing an int8 node's fp32 output block in one pass: residual add and activation (PostOp),
// then, for an int8 output, requantization into the next node's int8 tensor. Semantics: the scalar
// kernel, which is apply_postop, then NaN -> 0 and +-Inf -> +-FLT_MAX, then the static quantizer
// (ref::qs8_quantize_row_static) value by value. Every path gives the same bytes (and, without
// requantization, the same floats, NaN and -0.0 included).
#pragma once
#include <cstddef>
#include <cstdint>

#include "nnslim/postop.h"

namespace nnslim {

// block: rows x cols fp32 (row stride ldb) holding output pixel row0, channel col0 onwards. With
// rq == nullptr the post-op result is written back into block; otherwise the int8 result goes to
// yq (row stride ldy, first element = the block's first) and block is left as it was or clobbered.
#define NNSLIM_DECLARE_QS8_FINISH(isa)                                                                    \
  void nnslim_qs8_finish_block__##isa(float* block, size_t ldb, int rows, int cols, const PostOp& op,     \
                                      int64_t row0, int col0, const Requant* rq, int8_t* yq, size_t ldy);
NNSLIM_DECLARE_QS8_FINISH(scalar)
NNSLIM_DECLARE_QS8_FINISH(avx2)
NNSLIM_DECLARE_QS8_FINISH(avx512)
#undef NNSLIM_DECLARE_QS8_FINISH

}  // namespace nnslim
