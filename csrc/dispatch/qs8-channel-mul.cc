// Squeeze-excite multiply on int8 NHWC: per task a block of one image's pixels. AVX2 and AVX-512
// machines multiply and requantize in registers; scalar ones write the scalar kernel's fp32 products
// to a block in L1 that the block finisher requantizes (kernels/qs8-requant/): the same bytes either way.
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "../kernels/qs8-channel-mul/qs8-channel-mul.h"
#include "nnslim/channel_mul.h"
#include "nnslim/gemm.h"
#include "nnslim/postop.h"

namespace nnslim {

void qs8_channel_mul_nhwc(const int8_t* x, int N, int64_t HW, int C, float x_scale, int32_t x_zero_point,
                          const float* gate, float out_scale, int32_t out_zero_point, int8_t* y, Isa isa,
                          int num_threads) {
  const Qs8GemmConfig& cfg = qs8_gemm_config(isa);
  if (N <= 0 || HW <= 0 || C <= 0) return;
  // Blocks of ~16K values (whole pixels) keep the fp32 block in L1 / L2.
  const int64_t px_per_task = std::max<int64_t>(1, 16384 / C);
  const int64_t per_img = (HW + px_per_task - 1) / px_per_task;
  if (int64_t(N) * per_img > 0x7fffffff) throw std::invalid_argument("qs8_channel_mul_nhwc: input too large");
  const Requant rq{1.f / out_scale, out_zero_point};
  const PostOp none;
  parallel_for(int(N * per_img), int64_t(N) * HW * C >= (1 << 15) ? num_threads : 1, [&](int t) {
    const int64_t n = t / per_img, p0 = (t % per_img) * px_per_task, p1 = std::min(HW, p0 + px_per_task);
    const int rows = int(p1 - p0);
    const int8_t* xr = x + (size_t(n) * HW + p0) * C;
    const float* g = gate + size_t(n) * C;
    int8_t* yr = y + (size_t(n) * HW + p0) * C;
    if (isa == Isa::avx512vnni || isa == Isa::amx) {
      nnslim_qs8_channel_mul__avx512(xr, rows, C, x_scale, x_zero_point, g, rq, yr);
      return;
    }
    if (isa == Isa::avx2) {
      nnslim_qs8_channel_mul__avx2(xr, rows, C, x_scale, x_zero_point, g, rq, yr);
      return;
    }
    std::vector<float> blk_big;
    float* blk = thread_scratch<float, 5>(size_t(rows) * C, &blk_big);
    nnslim_qs8_channel_mul_f32__scalar(xr, rows, C, x_scale, x_zero_point, g, blk);
    cfg.finish_block(blk, C, rows, C, none, 0, 0, &rq, yr, C);
  });
}

}  // namespace nnslim
