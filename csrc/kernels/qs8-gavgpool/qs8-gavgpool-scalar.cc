// Scalar int8 global average pool sums: the reference.
#include "qs8-gavgpool.h"

namespace nnslim {

void nnslim_qs8_gavgpool_sums__scalar(const int8_t* x, int64_t pixels, int C, size_t ldx, int32_t* sum) {
  for (int c = 0; c < C; ++c) sum[c] = 0;
  for (int64_t p = 0; p < pixels; ++p)
    for (int c = 0; c < C; ++c) sum[c] += x[size_t(p) * ldx + c];
}

}  // namespace nnslim
