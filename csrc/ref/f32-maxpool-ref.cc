// Naive max pool: the semantics (torch's): windows clipped to the input, NaN propagates.
#include <limits>

#include "../kernels/f32-maxpool/f32-maxpool.h"
#include "nnslim/maxpool.h"

namespace nnslim {
namespace ref {

void f32_maxpool2d(const Pool2dShape& s, const float* x, float* y) {
  for (int p = 0; p < s.planes; ++p)
    for (int oh = 0; oh < s.OH; ++oh)
      for (int ow = 0; ow < s.OW; ++ow) {
        float m = -std::numeric_limits<float>::infinity();
        for (int i = 0; i < s.kh; ++i) {
          const int ih = oh * s.sh - s.ph + i * s.dh;
          if (ih < 0 || ih >= s.H) continue;
          for (int j = 0; j < s.kw; ++j) {
            const int iw = ow * s.sw - s.pw + j * s.dw;
            if (iw >= 0 && iw < s.W) m = maxpool_step(m, x[(size_t(p) * s.H + ih) * s.W + iw]);
          }
        }
        y[(size_t(p) * s.OH + oh) * s.OW + ow] = m;
      }
}

}  // namespace ref
}  // namespace nnslim
