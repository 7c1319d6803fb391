// AVX-512 block finishing, 16 channels per step with masked tails (the pieces live in
// kernels/common/finish-avx512-inl.h, shared with the GEMM epilogue that fuses them).
#include "../common/finish-avx512-inl.h"
#include "qs8-requant.h"

namespace nnslim {

void nnslim_qs8_finish_block__avx512(float* block, size_t ldb, int rows, int cols, const PostOp& op, int64_t row0,
                                     int col0, const Requant* rq, int8_t* yq, size_t ldy) {
  for (int r = 0; r < rows; ++r) {
    float* row = block + size_t(r) * ldb;
    const size_t base = size_t(row0 + r) * op.ldr + col0;
    for (int c = 0; c < cols; c += 16) {
      const __mmask16 mk = cols - c >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (cols - c)) - 1);
      __m512 y = finish_residual512(_mm512_maskz_loadu_ps(mk, row + c), op, base + c, mk);
      y = finish_activate512(y, op);
      if (rq)
        _mm_mask_storeu_epi8(yq + size_t(r) * ldy + c, mk, finish_requant512(y, *rq));
      else
        _mm512_mask_storeu_ps(row + c, mk, y);
    }
  }
}

}  // namespace nnslim
