// Reference grouped int8 convolution: naive loops over torch's weight layout, the definition every
// grouped kernel path (and the per-group GEMM path) must match.
#include "nnslim/gconv.h"

namespace nnslim {
namespace ref {

void qs8_conv_s32(const int8_t* x, const Conv2dShape& s, const int8_t* w, int8_t zero_point, int32_t* acc) {
  const int cg = s.C / s.groups, coutg = s.Cout / s.groups;
  for (int n = 0; n < s.N; ++n)
    for (int oh = 0; oh < s.OH; ++oh)
      for (int ow = 0; ow < s.OW; ++ow)
        for (int o = 0; o < s.Cout; ++o) {
          const int g = o / coutg;
          int64_t sum = 0;
          for (int j = 0; j < cg; ++j)
            for (int kh = 0; kh < s.KH; ++kh)
              for (int kw = 0; kw < s.KW; ++kw) {
                const int64_t ih = int64_t(oh) * s.stride_h - s.pad_h + int64_t(kh) * s.dil_h;
                const int64_t iw = int64_t(ow) * s.stride_w - s.pad_w + int64_t(kw) * s.dil_w;
                const bool inside = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
                const int xv = inside ? x[((int64_t(n) * s.H + ih) * s.W + iw) * s.C + int64_t(g) * cg + j] : zero_point;
                sum += int64_t(w[((int64_t(o) * cg + j) * s.KH + kh) * s.KW + kw]) * xv;
              }
          acc[((int64_t(n) * s.OH + oh) * s.OW + ow) * s.Cout + o] = int32_t(sum);
        }
}

}  // namespace ref
}  // namespace nnslim
