// fp32 NCHW max pool driver: planes split between threads; per output row, the vertical max of the
// window's (in-range) input rows, then each window's horizontal max.
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "../kernels/f32-maxpool/f32-maxpool.h"
#include "nnslim/gemm.h"
#include "nnslim/maxpool.h"

namespace nnslim {

namespace {

// torch's pooling_output_shape: floor or ceil (division rounding down, also for a window larger than
// the padded input: with ceil_mode that is still one output), and with ceil_mode the last window
// must start inside the input or its left padding.
int64_t out_size(int64_t in, int k, int pad, int stride, int dil, bool ceil_mode) {
  const int64_t num = in + 2 * int64_t(pad) - int64_t(dil) * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t o = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && o >= 1 && (o - 1) * stride >= in + pad) --o;
  return o;
}

}  // namespace

void Pool2dShape::resolve() {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  need(planes >= 0 && H >= 1 && W >= 1, "input: expected a non-empty (N, C, H, W) tensor");
  need(kh >= 1 && kw >= 1, "kernel_size: expected >= 1");
  need(sh >= 1 && sw >= 1, "stride: expected >= 1");
  need(dh >= 1 && dw >= 1, "dilation: expected >= 1");
  need(ph >= 0 && pw >= 0 && 2 * ph <= kh && 2 * pw <= kw, "padding: expected >= 0 and at most half the kernel size");
  const int64_t oh = out_size(H, kh, ph, sh, dh, ceil_mode), ow = out_size(W, kw, pw, sw, dw, ceil_mode);
  need(oh >= 1 && ow >= 1, "input: too small for the pooling window (output size " + std::to_string(oh) + " x " +
                               std::to_string(ow) + ")");
  OH = int(oh);
  OW = int(ow);
}

void f32_maxpool2d(const Pool2dShape& s, const float* x, float* y, Isa isa, int num_threads) {
  require_isa(isa);
  const bool scalar = isa == Isa::scalar;
  const auto rows_kernel = scalar ? nnslim_f32_maxpool_rows__scalar : nnslim_f32_maxpool_rows__avx2;
  const auto slide_kernel = scalar ? nnslim_f32_maxpool_slide__scalar : nnslim_f32_maxpool_slide__avx2;
  const int64_t work = int64_t(s.planes) * s.OH * s.W * s.kh;
  const int threads = work < (int64_t(1) << 18) ? 1 : clamp_threads(num_threads);
  const int tasks = std::max(1, std::min(s.planes, 4 * threads));
  // A row padded with -inf on both sides so every window (ceil_mode ones too) reads in range;
  // the sliding max runs at stride 1 and every sw-th result is kept.
  const int span = (s.OW - 1) * s.sw + 1;                  // window starts, stride 1
  const int padded = span + (s.kw - 1) * s.dw;             // elements the windows read
  parallel_for(tasks, threads, [&](int t) {
    const int p0 = int(int64_t(s.planes) * t / tasks), p1 = int(int64_t(s.planes) * (t + 1) / tasks);
    std::vector<float> row(size_t(padded), -std::numeric_limits<float>::infinity());
    std::vector<float> slide(static_cast<size_t>(span));
    std::vector<const float*> rows(size_t(s.kh));
    const int copy = std::min(s.W, padded - s.pw);  // input columns any window reads
    for (int p = p0; p < p1; ++p) {
      const float* plane = x + size_t(p) * s.H * s.W;
      float* out = y + size_t(p) * s.OH * s.OW;
      for (int oh = 0; oh < s.OH; ++oh) {
        int nrows = 0;
        for (int i = 0; i < s.kh; ++i) {
          const int ih = oh * s.sh - s.ph + i * s.dh;
          if (ih >= 0 && ih < s.H) rows[size_t(nrows++)] = plane + size_t(ih) * s.W;
        }
        // With dilation a window's rows can all fall in the padding (e.g. k = 2, pad = 1, dilation 3,
        // H = 2): torch gives -inf there.
        if (nrows == 0) {
          std::fill(out + size_t(oh) * s.OW, out + size_t(oh + 1) * s.OW, -std::numeric_limits<float>::infinity());
          continue;
        }
        rows_kernel(rows.data(), nrows, copy, row.data() + s.pw);
        slide_kernel(row.data(), span, s.kw, s.dw, slide.data());
        for (int ow = 0; ow < s.OW; ++ow) out[size_t(oh) * s.OW + ow] = slide[size_t(ow) * s.sw];
      }
    }
  });
}

}  // namespace nnslim
