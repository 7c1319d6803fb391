// Portable path: the kernel shape of the SIMD files with plain loops (and the same accumulation
// order as the reference, so this path is bitwise equal to it).
#include "f32-spmm.h"

namespace nnslim {

namespace {

inline float row_value(const SpmmKernelArgs& a, int n, int m) {
  float acc = a.bias ? a.bias[n] : 0.f;
  for (int64_t p = a.indptr[n]; p < a.indptr[n + 1]; ++p) acc += a.values[p] * a.x[a.offsets[p] + m];
  return acc;
}

}  // namespace

void nnslim_f32_spmm_cm__scalar(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  for (int n = n0; n < n1; ++n)
    for (int m = m0; m < m1; ++m) a.y[n * a.ldy + m] = row_value(a, n, m);
}

void nnslim_f32_spmm_rm__scalar(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  for (int m = m0; m < m1; ++m)
    for (int n = n0; n < n1; ++n) a.y[m * a.ldy + n] = row_value(a, n, m);
}

void nnslim_f32_spmm_gather__scalar(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  for (int m = m0; m < m1; ++m) {
    const float* x = a.x + m * a.x_mstride;
    for (int n = n0; n < n1; ++n) {
      float acc = a.bias ? a.bias[n] : 0.f;
      for (int64_t p = a.indptr[n]; p < a.indptr[n + 1]; ++p) acc += a.values[p] * x[a.offsets[p]];
      a.y[m * a.y_mstride + n * a.y_nstride] = acc;
    }
  }
}

void nnslim_f32_pack_xt__scalar(const float* x, size_t ldx, int rows, int K, int mb, float* dst) {
  for (int k = 0; k < K; ++k)
    for (int i = 0; i < rows; ++i) dst[size_t(k) * mb + i] = x[i * ldx + k];
}

}  // namespace nnslim
