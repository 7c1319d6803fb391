// Per-ISA squeeze-excite multiply rows on int8 NHWC (semantics: nnslim/channel_mul.h): `rows` pixels
// of C channels, y = requant(float(x - x_zero_point) * x_scale * gate[c]).
#pragma once
#include <cstdint>

#include "nnslim/postop.h"

namespace nnslim {

// The fp32 products of `rows` pixels into block (rows x C), for a block finisher to requantize.
void nnslim_qs8_channel_mul_f32__scalar(const int8_t* x, int rows, int C, float x_scale, int32_t x_zero_point,
                                        const float* gate, float* block);
// The whole thing in registers: products requantized straight into y (rows x C int8).
void nnslim_qs8_channel_mul__avx2(const int8_t* x, int rows, int C, float x_scale, int32_t x_zero_point,
                                  const float* gate, const Requant& rq, int8_t* y);
void nnslim_qs8_channel_mul__avx512(const int8_t* x, int rows, int C, float x_scale, int32_t x_zero_point,
                                    const float* gate, const Requant& rq, int8_t* y);

}  // namespace nnslim
