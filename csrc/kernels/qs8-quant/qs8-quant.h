// Per-row dynamic int8 quantization kernels (semantics: ref::qs8_quantize_row).
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnslim {

#define NNSLIM_DECLARE_QS8_QUANT(isa)                                                             \
  void nnslim_qs8_quant_rows__##isa(const float* X, size_t ldx, int m0, int m1, int K, int Kp, \
                                    int8_t* Q, size_t ldq, float* scales);
NNSLIM_DECLARE_QS8_QUANT(scalar)
NNSLIM_DECLARE_QS8_QUANT(avx2)
NNSLIM_DECLARE_QS8_QUANT(avx512)
#undef NNSLIM_DECLARE_QS8_QUANT

// The 7-bit asymmetric form (semantics: ref::qs8_quantize_row_q7).
#define NNSLIM_DECLARE_QS8_QUANT_Q7(isa)                                                                 \
  void nnslim_qs8_quant_rows_q7__##isa(const float* X, size_t ldx, int m0, int m1, int K, int Kp,        \
                                       bool unsigned_codes, int8_t* Q, size_t ldq, float* scales,        \
                                       int32_t* zero_points);
NNSLIM_DECLARE_QS8_QUANT_Q7(scalar)
NNSLIM_DECLARE_QS8_QUANT_Q7(avx2)
NNSLIM_DECLARE_QS8_QUANT_Q7(avx512)
#undef NNSLIM_DECLARE_QS8_QUANT_Q7

// Static quantization of rows [m0, m1) with one scale / zero point (semantics: ref::qs8_quantize_row_static).
#define NNSLIM_DECLARE_QS8_QUANT_STATIC(isa)                                                          \
  void nnslim_qs8_quant_rows_static__##isa(const float* X, size_t ldx, int m0, int m1, int K, int Kp, \
                                           float scale, float inv_scale, int32_t zero_point, int8_t* Q, \
                                           size_t ldq, float* row_scales);
NNSLIM_DECLARE_QS8_QUANT_STATIC(scalar)
NNSLIM_DECLARE_QS8_QUANT_STATIC(avx2)
NNSLIM_DECLARE_QS8_QUANT_STATIC(avx512)
#undef NNSLIM_DECLARE_QS8_QUANT_STATIC

}  // namespace nnslim
