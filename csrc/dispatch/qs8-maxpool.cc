// int8 NHWC max pool driver: one task per output row (n, oh); per output pixel the in-range window
// pixels (padding never wins a max, as in torch) go to the kernel as a list of row pointers.
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "../kernels/qs8-maxpool/qs8-maxpool.h"
#include "nnslim/gemm.h"
#include "nnslim/maxpool.h"

namespace nnslim {

void qs8_maxpool2d_nhwc(const Pool2dShape& s, int N, int C, const int8_t* x, int8_t* y, Isa isa, int num_threads) {
  require_isa(isa);
  const auto kernel = isa == Isa::scalar ? nnslim_qs8_maxpool_pixel__scalar : nnslim_qs8_maxpool_pixel__avx2;
  if (int64_t(N) * s.OH > 0x7fffffff) throw std::invalid_argument("qs8_maxpool2d_nhwc: N * OH exceeds 2^31 - 1");
  const int tasks = N * s.OH;
  const int64_t work = int64_t(tasks) * s.OW * C * s.kh * s.kw;
  const int threads = work < (int64_t(1) << 18) ? 1 : clamp_threads(num_threads);
  parallel_for(tasks, threads, [&](int t) {
    const int n = t / s.OH, oh = t % s.OH;
    std::vector<const int8_t*> rows(size_t(s.kh) * s.kw);
    for (int ow = 0; ow < s.OW; ++ow) {
      int count = 0;
      for (int i = 0; i < s.kh; ++i) {
        const int64_t ih = int64_t(oh) * s.sh - s.ph + int64_t(i) * s.dh;
        if (ih < 0 || ih >= s.H) continue;
        for (int j = 0; j < s.kw; ++j) {
          const int64_t iw = int64_t(ow) * s.sw - s.pw + int64_t(j) * s.dw;
          if (iw >= 0 && iw < s.W) rows[count++] = x + ((int64_t(n) * s.H + ih) * s.W + iw) * C;
        }
      }
      int8_t* out = y + ((int64_t(n) * s.OH + oh) * s.OW + ow) * C;
      // With dilation a window can miss the input entirely (k = 2, pad = 1, dilation 3, H = 2):
      // torch gives -inf there; int8 has no -inf, so it is the lowest code, -128 (which dequantizes
      // to a finite value: the next node sees a very negative input, not NaN).
      if (count == 0)
        std::fill(out, out + C, int8_t(-128));
      else
        kernel(rows.data(), count, C, out);
    }
  });
}

}  // namespace nnslim
