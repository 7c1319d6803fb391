// Depthwise int8 convolution driver: quantize the NHWC input once (unless it arrives int8), then per
// output row run the kernel on strided taps; residual add, activation and int8 requantization run
// in the kernel (VNNI) or on the row while it is in cache.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../kernels/common/finish-bounds-inl.h"
#include "../kernels/qs8-dwconv/qs8-dwconv.h"
#include "nnslim/dwconv.h"

namespace nnslim {

namespace {

// The SIMD kernels' weight layout, written portably: per block of `tile` channels and tap pair p,
// the vpunpcklwd half then the vpunpckhwd half of (tap 2p, tap 2p + 1) as int16. vpunpck works within
// 128-bit lanes of 8 channels: the low half holds channels 0-3 of each lane, the high half 4-7, each
// channel as (w[2p], w[2p + 1]). An odd last tap pairs with a zero weight.
void pack_tap_pairs(const int8_t* w, int C, int taps, int tile, PackedDw* out) {
  const int P = (taps + 1) / 2, blocks = out->Cp / tile;
  int16_t* dst = out->data.data();
  for (int b = 0; b < blocks; ++b)
    for (int p = 0; p < P; ++p)
      for (int half = 0; half < 2; ++half)
        for (int lane = 0; lane < tile / 8; ++lane)
          for (int j = 0; j < 4; ++j) {
            const int c = b * tile + 8 * lane + 4 * half + j;
            const int t0 = 2 * p, t1 = 2 * p + 1;
            *dst++ = c < C ? w[size_t(c) * taps + t0] : 0;
            *dst++ = (c < C && t1 < taps) ? w[size_t(c) * taps + t1] : 0;
          }
}

void pack_avx2(const int8_t* w, int C, int taps, PackedDw* out) { pack_tap_pairs(w, C, taps, 16, out); }
void pack_avx512vnni(const int8_t* w, int C, int taps, PackedDw* out) { pack_tap_pairs(w, C, taps, 32, out); }

}  // namespace

const Qs8DwConfig& qs8_dwconv_config(Isa isa) {
  static const Qs8DwConfig scalar{Isa::scalar, 1, nnslim_qs8_dwconv_pack__scalar, nnslim_qs8_dwconv_ukernel__scalar,
                                  nullptr};
  static const Qs8DwConfig avx2{Isa::avx2, 16, pack_avx2, nnslim_qs8_dwconv_ukernel__avx2,
                                nnslim_qs8_dwconv_ukernel_requant__avx2};
  // AMX has no tile shape for a per-channel reduction: it runs the VNNI kernel (as oneDNN does).
  static const Qs8DwConfig vnni{Isa::avx512vnni, 32, pack_avx512vnni, nnslim_qs8_dwconv_ukernel__avx512vnni,
                                nnslim_qs8_dwconv_ukernel_requant__avx512vnni};
  require_isa(isa);
  if (isa == Isa::scalar) return scalar;
  return isa == Isa::avx2 ? avx2 : vnni;
}

std::unique_ptr<PackedDw> qs8_dwconv_pack(const int8_t* w, int C, int taps, Isa isa) {
  if (C < 1 || taps < 1 || C > (1 << 30) || taps > 4096)
    throw std::invalid_argument("qs8_dwconv_pack: expected 1 <= channels <= 2^30 and 1 <= taps <= 4096");
  const Qs8DwConfig& cfg = qs8_dwconv_config(isa);
  auto out = std::make_unique<PackedDw>();
  out->isa = cfg.isa;
  out->C = C;
  out->taps = taps;
  out->Cp = round_up(C, cfg.channel_tile);
  // Sized here; the packers fill it in place.
  out->data.assign(size_t(out->Cp) * round_up(taps, 2), 0);
  cfg.pack(w, C, taps, out.get());
  return out;
}

void qs8_dwconv2d_static(const ConvIO& io, const Conv2dShape& s, const PackedDw& w, const float* w_scale,
                         const float* bias, int num_threads) {
  const int64_t pixels = int64_t(s.N) * s.OH * s.OW;
  if (pixels == 0) return;
  const Qs8DwConfig& cfg = qs8_dwconv_config(w.isa);
  const Qs8GemmConfig& qcfg = qs8_gemm_config(w.isa);
  const int C = s.C, Cp = w.Cp, taps = s.KH * s.KW;

  // 1. The int8 input: given, or quantized here (marking images that hold a non-finite value).
  const int64_t in_rows = int64_t(s.N) * s.H * s.W;
  std::vector<int8_t> xq_big;
  std::vector<float> img_scale(s.N, io.in_scale);
  const int8_t* xq = io.Xq;
  if (!xq) {
    int8_t* q = thread_scratch<int8_t, 0>(size_t(in_rows) * C, &xq_big);
    qs8_quantize_images(qcfg, io.X, s.N, int64_t(s.H) * s.W * C, io.in_scale, io.in_zero_point, q, img_scale.data(),
                        num_threads);
    xq = q;
  }
  // Per image: scale[c] = a_scale * w_scale[c] (NaN for an image holding a non-finite value).
  std::vector<float> scales(size_t(s.N) * Cp, 0.f), bias_p(Cp, 0.f);
  for (int n = 0; n < s.N; ++n)
    for (int c = 0; c < C; ++c) scales[size_t(n) * Cp + c] = img_scale[n] * w_scale[c];
  if (bias) std::copy(bias, bias + C, bias_p.begin());
  // Per image, for the kernels' finite-value shortcut (once here, not once per run of pixels).
  std::vector<char> bounded(size_t(s.N), 1);
  bool bias_bounded = true;
  for (int c = 0; c < C && bias; ++c) bias_bounded = bias_bounded && std::fabs(bias[c]) <= kFiniteBound;
  for (int n = 0; n < s.N; ++n) {
    bool ok = bias_bounded;
    for (int c = 0; c < C && ok; ++c) ok = std::fabs(scales[size_t(n) * Cp + c]) <= kFiniteBound;  // NaN fails
    bounded[size_t(n)] = ok;
  }

  // 2. One task per output row (n, oh). Its pixels whose windows lie inside the image read their
  // taps straight from the input (strided, no indirection list: building one cost as much as the
  // kernel); the few border pixels read a small zero-point-padded patch of the task's own. (A
  // padded copy of the whole input, written by one thread and read by all, cost more in cross-core
  // traffic than the kernel at 2 threads.) Post-ops and requantization are fused into the kernel
  // where it can.
  if (int64_t(s.N) * s.OH > 0x7fffffff) throw std::invalid_argument("qs8_dwconv2d_static: N * OH exceeds 2^31 - 1");
  const int8_t zp = int8_t(io.in_zero_point);
  const std::vector<int8_t> zp_row(size_t(s.W + 2 * int64_t(s.pad_w) + int64_t(s.KW) * s.dil_w) * C, zp);
  // Output columns [ow_in0, ow_in1) have every tap column inside the image.
  const int64_t span = int64_t(s.KW - 1) * s.dil_w;
  const int ow_in0 = int(std::min<int64_t>(s.OW, (s.pad_w + s.stride_w - 1) / s.stride_w));
  const int64_t last = s.W - 1 + s.pad_w - span;  // the largest ow * stride_w allowed
  const int ow_in1 = last < 0 ? ow_in0 : int(std::max<int64_t>(ow_in0, std::min<int64_t>(s.OW, last / s.stride_w + 1)));
  const bool fused = io.Yq && cfg.run_requant;
  const Requant rq{io.Yq ? 1.f / io.out_scale : 1.f, io.out_zero_point};
  const size_t step = size_t(s.stride_w) * C;
  const int tasks = s.N * s.OH;
  const int64_t work = pixels * C * int64_t(taps);
  parallel_for(tasks, work >= (1 << 18) ? num_threads : 1, [&](int t) {
    const int n = t / s.OH, oh = t % s.OH;
    std::vector<const int8_t*> tap_big;
    std::vector<int8_t> patch_big;
    std::vector<float> blk_big;
    const int8_t** tap = thread_scratch<const int8_t*, 0>(size_t(taps), &tap_big);
    const int64_t row0 = (int64_t(n) * s.OH + oh) * s.OW;
    const float* sc = scales.data() + size_t(n) * Cp;
    const float* b = bias ? bias_p.data() : nullptr;
    float* out = fused ? nullptr : io.Yq ? thread_scratch<float, 2>(size_t(s.OW) * C, &blk_big) : io.Y + row0 * C;
    // Output columns [a, e): from the input itself, or from a patch holding exactly the columns they read.
    auto segment = [&](int a, int e, bool in_place) {
      if (e <= a) return;
      const int64_t iw0 = int64_t(a) * s.stride_w - s.pad_w;
      const int64_t cols = int64_t(e - a - 1) * s.stride_w + span + 1;
      int8_t* patch = in_place ? nullptr : thread_scratch<int8_t, 4>(size_t(s.KH * cols) * C, &patch_big);
      for (int kh = 0; kh < s.KH; ++kh) {
        const int64_t ih = int64_t(oh) * s.stride_h - s.pad_h + int64_t(kh) * s.dil_h;
        const bool row_in = ih >= 0 && ih < s.H;
        const int8_t* src = xq + (int64_t(n) * s.H + (row_in ? ih : 0)) * s.W * C;
        const int8_t* base;
        if (in_place) {
          base = row_in ? src + iw0 * C : zp_row.data();
        } else {
          int8_t* dst = patch + size_t(kh) * cols * C;
          for (int64_t j = 0; j < cols; ++j) {
            const int64_t iw = iw0 + j;
            if (row_in && iw >= 0 && iw < s.W)
              std::memcpy(dst + j * C, src + iw * C, C);
            else
              std::memset(dst + j * C, zp, C);
          }
          base = dst;
        }
        for (int kw = 0; kw < s.KW; ++kw) tap[kh * s.KW + kw] = base + int64_t(kw) * s.dil_w * C;
      }
      const DwRun run{tap, step, e - a};
      if (fused)
        cfg.run_requant(w, run, sc, b, DwRequant{&io.post, &rq, io.Yq + (row0 + a) * C, row0 + a, bounded[size_t(n)] != 0});
      else
        cfg.run(w, run, sc, b, out + size_t(a) * C, C);
    };
    segment(0, ow_in0, false);
    segment(ow_in0, ow_in1, true);
    segment(std::max(ow_in0, ow_in1), s.OW, false);
    if (!fused) qs8_conv_finish_block(qcfg, out, C, s.OW, C, row0, 0, C, io);
  });
}

}  // namespace nnslim
