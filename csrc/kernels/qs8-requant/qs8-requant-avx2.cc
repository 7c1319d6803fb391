// AVX2 block finishing, 8 channels per step; a row's last cols % 8 channels go to the scalar kernel
// (an out-of-line call into baseline code, never an inline function shared with it).
#include <immintrin.h>

#include "../common/finish-avx2-inl.h"
#include "qs8-requant.h"

namespace nnslim {

void nnslim_qs8_finish_block__avx2(float* block, size_t ldb, int rows, int cols, const PostOp& op, int64_t row0,
                                   int col0, const Requant* rq, int8_t* yq, size_t ldy) {
  const int cv = cols & ~7;
  // Local copies: the int8 stores below could alias op and *rq as far as the compiler knows.
  const PostOp o = op;
  const Requant q = rq ? *rq : Requant{};
  for (int r = 0; r < rows; ++r) {
    float* row = block + size_t(r) * ldb;
    const size_t base = size_t(row0 + r) * o.ldr + col0;
    for (int c = 0; c < cv; c += 8) {
      const __m256 y = finish_activate256(finish_residual256(_mm256_loadu_ps(row + c), o, base + c), o);
      if (!rq) {
        _mm256_storeu_ps(row + c, y);
        continue;
      }
      _mm_storel_epi64(reinterpret_cast<__m128i*>(yq + size_t(r) * ldy + c), finish_pack8_s8(finish_requant256(y, q)));
    }
  }
  if (cv < cols)
    nnslim_qs8_finish_block__scalar(block + cv, ldb, rows, cols - cv, op, row0, col0 + cv, rq, rq ? yq + cv : yq, ldy);
}

}  // namespace nnslim
