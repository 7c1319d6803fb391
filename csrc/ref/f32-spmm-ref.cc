// Naive loops, deliberately unoptimised: the specification of the sparse linear and convolution
// kernels. Accumulation starts from the bias and adds value * input in CSR order, in fp32; padded
// input positions are zeros that still get multiplied (Inf * 0 = NaN, as in the dense layers).
#include "nnslim/spmm.h"

namespace nnslim {
namespace ref {

void f32_spmm(const Csr& w, const float* x, size_t ldx, int M, const float* bias, float* y, size_t ldy) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < w.rows; ++n) {
      float acc = bias ? bias[n] : 0.f;
      for (int64_t p = w.indptr[n]; p < w.indptr[n + 1]; ++p) acc += w.values[p] * x[m * ldx + w.indices[p]];
      y[m * ldy + n] = acc;
    }
}

void f32_spconv2d(const Csr& w, const Conv2dGeometry& g, const float* x, int batch, int H, int W,
                  const float* bias, float* y) {
  int Ho, Wo;
  g.output_size(H, W, &Ho, &Wo);
  const int taps = g.kh * g.kw;
  for (int b = 0; b < batch; ++b) {
    const float* xb = x + size_t(b) * g.in_channels * H * W;
    float* yb = y + size_t(b) * g.out_channels * Ho * Wo;
    for (int co = 0; co < g.out_channels; ++co)
      for (int oh = 0; oh < Ho; ++oh)
        for (int ow = 0; ow < Wo; ++ow) {
          float acc = bias ? bias[co] : 0.f;
          for (int64_t p = w.indptr[co]; p < w.indptr[co + 1]; ++p) {
            const int c = w.indices[p];
            const int ci = c / taps, i = c % taps / g.kw, j = c % g.kw;
            const int ih = oh * g.stride_h + i * g.dilation_h - g.pad_top;
            const int iw = ow * g.stride_w + j * g.dilation_w - g.pad_left;
            const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
            acc += w.values[p] * (inside ? xb[(size_t(ci) * H + ih) * W + iw] : 0.f);
          }
          yb[(size_t(co) * Ho + oh) * Wo + ow] = acc;
        }
  }
}

}  // namespace ref
}  // namespace nnslim
