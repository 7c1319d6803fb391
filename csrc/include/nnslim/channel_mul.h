// int8 NHWC times a per-(image, channel) fp32 gate, requantized: the squeeze-excite multiply on an
// int8 graph edge. y[n, p, c] = requant(float(x[n, p, c] - x_zero_point) * x_scale * gate[n, c]) with
// the static requantizer of every int8 node output (NaN -> the zero point, saturating).
#pragma once
#include <cstdint>

#include "nnslim/hw.h"

namespace nnslim {

void qs8_channel_mul_nhwc(const int8_t* x, int N, int64_t HW, int C, float x_scale, int32_t x_zero_point,
                          const float* gate, float out_scale, int32_t out_zero_point, int8_t* y, Isa isa,
                          int num_threads);

}  // namespace nnslim
