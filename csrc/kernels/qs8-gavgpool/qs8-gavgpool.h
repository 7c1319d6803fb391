// Per-ISA int8 NHWC global average pool kernels: the exact int32 channel sums of `pixels` rows of C
// bytes (the driver turns them into fp32 means). Sums, not means, so every ISA agrees bit for bit.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnslim {

// sum[c] = sum over p < pixels of x[p * ldx + c], for c < C (pixels * 128 must fit in int32).
#define NNSLIM_DECLARE_QS8_GAVGPOOL(isa) \
  void nnslim_qs8_gavgpool_sums__##isa(const int8_t* x, int64_t pixels, int C, size_t ldx, int32_t* sum);
NNSLIM_DECLARE_QS8_GAVGPOOL(scalar)
NNSLIM_DECLARE_QS8_GAVGPOOL(avx2)
#undef NNSLIM_DECLARE_QS8_GAVGPOOL

}  // namespace nnslim
