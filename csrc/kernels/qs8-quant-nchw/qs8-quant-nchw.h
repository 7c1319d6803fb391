// The entry of an int8 graph: static quantization of fp32 NCHW images straight into int8 NHWC, so
// the image is read once and never transposed in fp32 (semantics: the scalar kernel).
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnslim {

// Pixels [p0, p1) of one image: x holds its C planes of HW floats, q its (HW, C) int8 NHWC output.
// q[p * C + c] = the static quantizer's value of x[c * HW + p] (ref::qs8_quantize_row_static, value
// by value); *bad becomes true when one of those inputs is not finite (it is never reset).
#define NNSLIM_DECLARE_QS8_QUANT_NCHW(isa)                                                                \
  void nnslim_qs8_quant_nchw__##isa(const float* x, int C, int64_t HW, int64_t p0, int64_t p1, float inv_scale, \
                                    int32_t zero_point, int8_t* q, bool* bad);
NNSLIM_DECLARE_QS8_QUANT_NCHW(scalar)
NNSLIM_DECLARE_QS8_QUANT_NCHW(avx2)
NNSLIM_DECLARE_QS8_QUANT_NCHW(avx512)
#undef NNSLIM_DECLARE_QS8_QUANT_NCHW

}  // namespace nnslim
