// Portable convolution-grid store: the flat grid m = oh * ws + ow is computed through the row
// padding (ow >= wo) and only real output columns are written.
#include "../f32-spmm/f32-spmm.h"

namespace nnslim {

void nnslim_f32_spconv_grid__scalar(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  const int ws = a.grid_ws, wo = a.grid_wo;
  for (int n = n0; n < n1; ++n) {
    float* yn = a.y + n * a.ldy;
    for (int m = m0; m < m1; ++m) {
      const int oh = m / ws, ow = m % ws;
      if (ow >= wo) continue;
      float acc = a.bias ? a.bias[n] : 0.f;
      for (int64_t p = a.indptr[n]; p < a.indptr[n + 1]; ++p) acc += a.values[p] * a.x[a.offsets[p] + m];
      yn[oh * wo + ow] = acc;
    }
  }
}

}  // namespace nnslim
