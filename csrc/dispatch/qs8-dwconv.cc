// Depthwise int8 convolution driver: quantize the NHWC input once (rows padded to the kernel's
// channel tile), then per output row build the indirection list (input row or zero-point row per
// tap) and run the kernel; residual add and activation run on the row while it is in cache.
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../kernels/qs8-dwconv/qs8-dwconv.h"
#include "nnslim/dwconv.h"

namespace nnslim {

const Qs8DwConfig& qs8_dwconv_config(Isa isa) {
  static const Qs8DwConfig scalar{Isa::scalar, 1, nnslim_qs8_dwconv_pack__scalar, nnslim_qs8_dwconv_ukernel__scalar};
  static const Qs8DwConfig avx2{Isa::avx2, 16, nnslim_qs8_dwconv_pack__avx2, nnslim_qs8_dwconv_ukernel__avx2};
  require_isa(isa);
  return isa == Isa::scalar ? scalar : avx2;
}

std::unique_ptr<PackedDw> qs8_dwconv_pack(const int8_t* w, int C, int taps, Isa isa) {
  if (C < 1 || taps < 1) throw std::invalid_argument("qs8_dwconv_pack: channels and taps must be >= 1");
  auto out = std::make_unique<PackedDw>();
  qs8_dwconv_config(isa).pack(w, C, taps, out.get());
  return out;
}

void qs8_dwconv2d_static_f32(const float* X, const Conv2dShape& s, const PackedDw& w, float in_scale,
                             int32_t zero_point, const float* w_scale, const float* bias, const PostOp* post,
                             float* Y, int num_threads) {
  const int64_t pixels = int64_t(s.N) * s.OH * s.OW;
  if (pixels == 0) return;
  const Qs8DwConfig& cfg = qs8_dwconv_config(w.isa);
  const Qs8GemmConfig& qcfg = qs8_gemm_config(w.isa);
  const int C = s.C, Cp = w.Cp, taps = s.KH * s.KW;

  // 1. Quantize the input into rows of Cp bytes (zeroed padding), flag images with non-finite values.
  const int64_t in_rows = int64_t(s.N) * s.H * s.W;
  std::vector<int8_t> xq_big;
  std::vector<float> rs_big;
  int8_t* xq = thread_scratch<int8_t, 0>(size_t(in_rows) * Cp, &xq_big);
  float* row_scale = thread_scratch<float, 0>(in_rows, &rs_big);
  const float inv = 1.f / in_scale;
  const int qtasks = int(std::min<int64_t>(in_rows, int64_t(num_threads) * 4));
  parallel_for(qtasks, in_rows * C >= (1 << 16) ? num_threads : 1, [&](int t) {
    const int64_t r0 = in_rows * t / qtasks, r1 = in_rows * (t + 1) / qtasks;
    qcfg.quantize_rows_static(X + r0 * C, C, 0, int(r1 - r0), C, Cp, in_scale, inv, zero_point, xq + r0 * Cp, Cp,
                              row_scale + r0);
  });
  const std::vector<int8_t> zp_row(Cp, int8_t(zero_point));
  // Per image: scale[c] = a_scale * w_scale[c] (NaN for an image holding a non-finite value).
  std::vector<float> scales(size_t(s.N) * Cp, 0.f), bias_p(Cp, 0.f);
  const int64_t img_in = int64_t(s.H) * s.W;
  for (int n = 0; n < s.N; ++n) {
    float a = in_scale;
    for (int64_t r = 0; r < img_in; ++r)
      if (std::isnan(row_scale[n * img_in + r])) {
        a = std::nanf("");
        break;
      }
    for (int c = 0; c < C; ++c) scales[size_t(n) * Cp + c] = a * w_scale[c];
  }
  if (bias) std::copy(bias, bias + C, bias_p.begin());

  // 2. One task per output row (n, oh): indirection list, kernel, post-ops.
  const int tasks = s.N * s.OH;
  const int64_t work = pixels * C * int64_t(taps);
  parallel_for(tasks, work >= (1 << 18) ? num_threads : 1, [&](int t) {
    const int n = t / s.OH, oh = t % s.OH;
    std::vector<const int8_t*> ptr_big;
    const int8_t** ptrs = thread_scratch<const int8_t*, 0>(size_t(s.OW) * taps, &ptr_big);
    for (int ow = 0; ow < s.OW; ++ow)
      for (int kh = 0; kh < s.KH; ++kh) {
        const int64_t ih = int64_t(oh) * s.stride_h - s.pad_h + int64_t(kh) * s.dil_h;
        for (int kw = 0; kw < s.KW; ++kw) {
          const int64_t iw = int64_t(ow) * s.stride_w - s.pad_w + int64_t(kw) * s.dil_w;
          const bool inside = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
          ptrs[size_t(ow) * taps + kh * s.KW + kw] =
              inside ? xq + ((int64_t(n) * s.H + ih) * s.W + iw) * Cp : zp_row.data();
        }
      }
    const int64_t out_off = (int64_t(n) * s.OH + oh) * s.OW * C;
    cfg.run(w, ptrs, s.OW, scales.data() + size_t(n) * Cp, bias ? bias_p.data() : nullptr, Y + out_off, C);
    if (post && !post->empty())
      apply_postop(Y + out_off, C, s.OW, C, *post, post->residual ? post->residual + out_off : nullptr);
  });
}

}  // namespace nnslim
