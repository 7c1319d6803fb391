// int8 NHWC global average pool driver: one task per (image, 64-channel block); the kernel sums in
// int32, the driver removes the zero point exactly and scales once per channel.
#include <algorithm>
#include <stdexcept>

#include "../kernels/qs8-gavgpool/qs8-gavgpool.h"
#include "nnslim/gavgpool.h"
#include "nnslim/gemm.h"

namespace nnslim {

void qs8_global_avgpool_nhwc(const int8_t* x, int N, int64_t HW, int C, float scale, int32_t zero_point, float* y,
                             Isa isa, int num_threads) {
  require_isa(isa);
  if (HW < 1 || HW > (int64_t(1) << 23))
    throw std::invalid_argument("qs8_global_avgpool_nhwc: expected 1 <= H * W <= 2^23");
  const auto kernel = isa == Isa::scalar ? nnslim_qs8_gavgpool_sums__scalar : nnslim_qs8_gavgpool_sums__avx2;
  constexpr int kBlock = 64;
  const int blocks = (C + kBlock - 1) / kBlock;
  if (int64_t(N) * blocks > 0x7fffffff) throw std::invalid_argument("qs8_global_avgpool_nhwc: N * C too large");
  const float hw_f = float(HW);
  // Threads from 16K values: the input is usually the previous conv's output, written half by each
  // core (static schedule), so each thread's channel blocks are mostly already in its own L2.
  parallel_for(N * blocks, int64_t(N) * HW * C >= (1 << 14) ? num_threads : 1, [&](int t) {
    const int n = t / blocks, c0 = (t % blocks) * kBlock, cn = std::min(kBlock, C - c0);
    int32_t sum[kBlock];
    kernel(x + size_t(n) * HW * C + c0, HW, cn, size_t(C), sum);
    for (int c = 0; c < cn; ++c) {
      const int64_t s = int64_t(sum[c]) - int64_t(zero_point) * HW;
      y[size_t(n) * C + c0 + c] = (float(s) * scale) / hw_f;
    }
  });
}

}  // namespace nnslim
