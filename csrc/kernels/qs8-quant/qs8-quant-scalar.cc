// Portable per-row quantization: the reference, row by row.
#include "nnslim/ref.h"
#include "qs8-quant.h"

namespace nnslim {

void nnslim_qs8_quant_rows__scalar(const float* X, size_t ldx, int m0, int m1, int K, int Kp, int8_t* Q,
                                   size_t ldq, float* scales) {
  for (int m = m0; m < m1; ++m) ref::qs8_quantize_row(X + m * ldx, K, Kp, Q + m * ldq, scales + m);
}

void nnslim_qs8_quant_rows_q7__scalar(const float* X, size_t ldx, int m0, int m1, int K, int Kp,
                                      bool unsigned_codes, int8_t* Q, size_t ldq, float* scales,
                                      int32_t* zero_points) {
  for (int m = m0; m < m1; ++m)
    ref::qs8_quantize_row_q7(X + m * ldx, K, Kp, unsigned_codes, Q + m * ldq, scales + m, zero_points + m);
}

void nnslim_qs8_quant_rows_static__scalar(const float* X, size_t ldx, int m0, int m1, int K, int Kp, float scale,
                                          float inv_scale, int32_t zero_point, int8_t* Q, size_t ldq,
                                          float* row_scales) {
  for (int m = m0; m < m1; ++m)
    ref::qs8_quantize_row_static(X + m * ldx, K, Kp, scale, inv_scale, zero_point, Q + m * ldq, row_scales + m);
}

}  // namespace nnslim
