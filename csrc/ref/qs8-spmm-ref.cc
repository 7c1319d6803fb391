// Naive block-sparse product: the specification the qs8-spmm kernels are tested against.
#include "nnslim/qs8_spmm.h"

namespace nnslim {
namespace ref {

void qs8_bsr4_spmm_s32(const Qs8Bsr4& w, const int8_t* A, size_t lda, int M, int32_t* C, size_t ldc) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < w.rows; ++n) {
      const int b = n / kBlockRows, r = n % kBlockRows;
      int64_t acc = 0;
      for (int64_t p = w.indptr[b]; p < w.indptr[b + 1]; ++p)
        acc += int32_t(A[size_t(m) * lda + w.indices[p]]) * int32_t(w.values[p * kBlockRows + r]);
      C[size_t(m) * ldc + n] = static_cast<int32_t>(acc);
    }
}

}  // namespace ref
}  // namespace nnslim
