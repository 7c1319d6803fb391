// int8 NHWC average pool driver: one task per output row (n, oh); per output pixel the window's
// in-image pixels go to the kernel as a list of row pointers, with torch's divisor for the window.
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "../kernels/qs8-avgpool/qs8-avgpool.h"
#include "nnslim/avgpool.h"
#include "nnslim/gemm.h"

namespace nnslim {

void qs8_avgpool2d_nhwc(const Pool2dShape& s, int N, int C, const int8_t* x, int zero_point, bool count_include_pad,
                        int divisor_override, int8_t* y, Isa isa, int num_threads) {
  require_isa(isa);
  if (zero_point < -128 || zero_point > 127) throw std::invalid_argument("zero_point: expected an int in [-128, 127]");
  if (int64_t(s.kh) * s.kw > (int64_t(1) << 16))
    throw std::invalid_argument("kernel_size: expected at most 65536 window pixels");  // int32 sums stay exact in float
  const auto kernel = isa == Isa::scalar ? nnslim_qs8_avgpool_pixel__scalar : nnslim_qs8_avgpool_pixel__avx2;
  if (int64_t(N) * s.OH > 0x7fffffff) throw std::invalid_argument("qs8_avgpool2d_nhwc: N * OH exceeds 2^31 - 1");
  const int tasks = N * s.OH;
  const int64_t work = int64_t(tasks) * s.OW * C * s.kh * s.kw;
  const int threads = work < (int64_t(1) << 18) ? 1 : clamp_threads(num_threads);
  parallel_for(tasks, threads, [&](int t) {
    const int n = t / s.OH, oh = t % s.OH;
    std::vector<const int8_t*> rows(size_t(s.kh) * s.kw);
    // torch's window (aten AvgPoolKernel): clipped to the padded input for count_include_pad's
    // divisor, then to the image for the pixels summed.
    const int64_t h0p = int64_t(oh) * s.sh - s.ph, h1p = std::min<int64_t>(h0p + s.kh, int64_t(s.H) + s.ph);
    const int64_t h0 = std::max<int64_t>(h0p, 0), h1 = std::min<int64_t>(h1p, s.H);
    for (int ow = 0; ow < s.OW; ++ow) {
      const int64_t w0p = int64_t(ow) * s.sw - s.pw, w1p = std::min<int64_t>(w0p + s.kw, int64_t(s.W) + s.pw);
      const int64_t w0 = std::max<int64_t>(w0p, 0), w1 = std::min<int64_t>(w1p, s.W);
      int8_t* out = y + ((int64_t(n) * s.OH + oh) * s.OW + ow) * C;
      if (h0 >= h1 || w0 >= w1) {  // torch: 0 there
        std::fill(out, out + C, int8_t(zero_point));
        continue;
      }
      int count = 0;
      for (int64_t ih = h0; ih < h1; ++ih)
        for (int64_t iw = w0; iw < w1; ++iw) rows[size_t(count++)] = x + ((int64_t(n) * s.H + ih) * s.W + iw) * C;
      const int divisor = divisor_override > 0 ? divisor_override
                          : count_include_pad  ? int((h1p - h0p) * (w1p - w0p))
                                               : count;
      kernel(rows.data(), count, C, zero_point, divisor, out);
    }
  });
}

}  // namespace nnslim
