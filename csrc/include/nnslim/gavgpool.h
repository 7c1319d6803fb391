// int8 NHWC global average pool (AdaptiveAvgPool2d(1) on an int8 graph edge): per image and channel,
// mean = (float(S) * scale) / float(H * W) with S = sum(q) - zero_point * H * W exact in integers.
// Output fp32 (N, C): the classifier head after it runs in float.
#pragma once
#include <cstdint>

#include "nnslim/hw.h"

namespace nnslim {

// `isa` picks the kernel (AVX2 for avx2 and up, scalar otherwise); throws std::invalid_argument when
// H * W exceeds 2^23 (the int32 sum's exact range).
void qs8_global_avgpool_nhwc(const int8_t* x, int N, int64_t HW, int C, float scale, int32_t zero_point, float* y,
                             Isa isa, int num_threads);

}  // namespace nnslim
