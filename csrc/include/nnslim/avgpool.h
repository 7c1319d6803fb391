// int8 NHWC average pooling over an int8 graph edge (ResNet-D / timm's average-pool shortcuts), as
// torch's avg_pool2d computes it on the dequantized values (window clipping with ceil_mode,
// count_include_pad, divisor_override), the result re-quantized in the input's own scale and zero
// point. See kernels/qs8-avgpool/qs8-avgpool.h for the rounding.
#pragma once
#include <cstdint>

#include "nnslim/hw.h"
#include "nnslim/maxpool.h"

namespace nnslim {

// s.planes and s.dh / s.dw are unused (no dilation); x is (N, H, W, C), y (N, OH, OW, C).
// divisor_override <= 0: none. A window entirely in the padding (ceil_mode) gives the zero point.
void qs8_avgpool2d_nhwc(const Pool2dShape& s, int N, int C, const int8_t* x, int zero_point, bool count_include_pad,
                        int divisor_override, int8_t* y, Isa isa, int num_threads);

}  // namespace nnslim
