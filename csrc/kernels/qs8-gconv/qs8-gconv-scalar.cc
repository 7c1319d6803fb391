// Scalar grouped int8 conv kernel: one int32 accumulator per output channel, the definition the
// SIMD kernels match bit for bit (the same float operations, in the same order, on the exact sums).
#include "qs8-gconv.h"

namespace nnslim {

void nnslim_qs8_gconv_pack__scalar(const int8_t* w, PackedGconv* out) {
  const int taps = out->KH * out->KW, cg = out->cg;
  for (int o = 0; o < out->Cout; ++o)
    for (int j = 0; j < cg; ++j)
      for (int t = 0; t < taps; ++t) out->data[(size_t(o) * taps + t) * cg + j] = w[(size_t(o) * cg + j) * taps + t];
}

void nnslim_qs8_gconv_widen__scalar(const PackedGconv& w, const int8_t* src, int pixels, int16_t* dst) {
  for (size_t k = 0, e = size_t(pixels) * w.patch_c; k < e; ++k) dst[k] = src[k];
}

void nnslim_qs8_gconv_ukernel__scalar(const PackedGconv& w, const GconvRun& r, const float* scale, const float* bias,
                                      float* out, size_t ldo) {
  const int taps = w.KH * w.KW, cg = w.cg;
  for (int i = 0; i < r.count; ++i)
    for (int o = r.group0 * w.coutg; o < r.group1 * w.coutg; ++o) {
      const int16_t* wo = w.data.data() + size_t(o) * taps * cg;
      const int16_t* x0 = r.patch + size_t(i) * r.pixel_step + size_t(o / w.coutg) * cg;  // plain NHWC patch
      int32_t acc = 0;
      for (int kh = 0; kh < w.KH; ++kh)
        for (int kw = 0; kw < w.KW; ++kw, wo += cg) {
          const int16_t* x = x0 + kh * r.row_stride + kw * r.tap_step;
          for (int j = 0; j < cg; ++j) acc += int32_t(wo[j]) * x[j];
        }
      out[size_t(i) * ldo + o] = float(acc) * scale[o] + (bias ? bias[o] : 0.f);
    }
}

}  // namespace nnslim
