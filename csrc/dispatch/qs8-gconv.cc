// Grouped int8 convolution driver: quantize the NHWC input once (unless it arrives int8), then per
// output row widen the KH input rows it reads into an int16 patch in the kernel's channel order (the
// zero point where the window leaves the image) and run the kernel over the row's pixels; residual,
// activation and int8 requantization run in the kernel (AVX2) or on the fp32 row while it is in
// cache.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "../kernels/common/finish-bounds-inl.h"
#include "../kernels/qs8-gconv/qs8-gconv.h"
#include "nnslim/gconv.h"

namespace nnslim {

namespace {

constexpr int kLaneBlock = 8;  // the AVX2 kernel's output channels per vector

// The AVX2 layout: per block of 8 lanes, tap t and pair p of the group's input channels, lane l's
// (w[o, 2p, t], w[o, 2p + 1, t]) for its output channel o (zeros past Cout).
void pack_lane_pairs(const int8_t* w, PackedGconv* out) {
  const int taps = out->KH * out->KW, P = out->cg / 2, cg = out->cg;
  int16_t* dst = out->data.data();
  for (int b = 0; b < out->Coutp / kLaneBlock; ++b)
    for (int t = 0; t < taps; ++t)
      for (int p = 0; p < P; ++p)
        for (int l = 0; l < kLaneBlock; ++l) {
          const int o = nnslim_qs8_gconv_block_lane_output__avx2(out->coutg, cg, b, l);
          const bool real = o < out->Cout;
          *dst++ = real ? w[(size_t(o) * cg + 2 * p) * taps + t] : 0;
          *dst++ = real ? w[(size_t(o) * cg + 2 * p + 1) * taps + t] : 0;
        }
}

}  // namespace

bool qs8_gconv_supported(int C, int Cout, int groups) {
  if (groups <= 1 || C <= 0 || Cout <= 0 || groups >= C || C % groups || Cout % groups) return false;
  const int cg = C / groups, coutg = Cout / groups;
  if (cg % 2 || cg > 512) return false;
  return coutg % kLaneBlock == 0 || ((coutg == 2 || coutg == 4) && cg <= 2 * coutg);
}

const Qs8GconvConfig& qs8_gconv_config(Isa isa) {
  static const Qs8GconvConfig scalar{Isa::scalar,
                                     [](int, int) { return 1; },
                                     [](int C, int, int) { return C; },
                                     nnslim_qs8_gconv_pack__scalar,
                                     nnslim_qs8_gconv_widen__scalar,
                                     nnslim_qs8_gconv_ukernel__scalar,
                                     nullptr};
  // AVX-512 machines run the AVX2 kernel (there is no 512-bit grouped kernel yet).
  static const Qs8GconvConfig avx2{Isa::avx2,
                                   nnslim_qs8_gconv_lane_block__avx2,
                                   nnslim_qs8_gconv_patch_channels__avx2,
                                   pack_lane_pairs,
                                   nnslim_qs8_gconv_widen__avx2,
                                   nnslim_qs8_gconv_ukernel__avx2,
                                   nnslim_qs8_gconv_ukernel_requant__avx2};
  require_isa(isa);
  return isa == Isa::scalar ? scalar : avx2;
}

std::unique_ptr<PackedGconv> qs8_gconv_pack(const int8_t* w, int C, int Cout, int groups, int KH, int KW, Isa isa) {
  if (!qs8_gconv_supported(C, Cout, groups))
    throw std::invalid_argument("qs8_gconv_pack: groups=" + std::to_string(groups) + " over " + std::to_string(C) +
                                " -> " + std::to_string(Cout) + " channels is not a geometry of the grouped kernel "
                                "(qs8_gconv_supported)");
  if (KH < 1 || KW < 1 || int64_t(KH) * KW * (C / groups) > 65536)
    throw std::invalid_argument("qs8_gconv_pack: expected kernel_h, kernel_w >= 1 and kernel_h * kernel_w * "
                                "channels per group <= 65536");
  const Qs8GconvConfig& cfg = qs8_gconv_config(isa);
  auto out = std::make_unique<PackedGconv>();
  out->isa = cfg.isa;
  out->groups = groups;
  out->cg = C / groups;
  out->coutg = Cout / groups;
  out->KH = KH;
  out->KW = KW;
  out->Cout = Cout;
  out->Coutp = round_up(Cout, cfg.lane_block(out->coutg, out->cg));
  out->patch_c = cfg.patch_channels(C, out->coutg, out->cg);
  out->data.assign(size_t(out->Coutp) * KH * KW * out->cg, 0);
  cfg.pack(w, out.get());
  return out;
}

void qs8_gconv2d_static(const ConvIO& io, const Conv2dShape& s, const PackedGconv& w, const float* w_scale,
                        const float* bias, int num_threads) {
  if (s.C != w.groups * w.cg || s.Cout != w.Cout || s.groups != w.groups || s.KH != w.KH || s.KW != w.KW)
    throw std::invalid_argument("qs8_gconv2d_static: the shape does not match the packed weights");
  const int64_t pixels = int64_t(s.N) * s.OH * s.OW;
  if (pixels == 0) return;
  const Qs8GconvConfig& cfg = qs8_gconv_config(w.isa);
  const Qs8GemmConfig& qcfg = qs8_gemm_config(w.isa);
  const int C = s.C, Cout = s.Cout, Coutp = w.Coutp;

  // 1. The int8 input: given, or quantized here (marking images that hold a non-finite value).
  std::vector<int8_t> xq_big;
  std::vector<float> img_scale(s.N, io.in_scale);
  const int8_t* xq = io.Xq;
  if (!xq) {
    int8_t* q = thread_scratch<int8_t, 0>(size_t(s.N) * s.H * s.W * C, &xq_big);
    qs8_quantize_images(qcfg, io.X, s.N, int64_t(s.H) * s.W * C, io.in_scale, io.in_zero_point, q, img_scale.data(),
                        num_threads);
    xq = q;
  }
  // Per image: scale[o] = a_scale * w_scale[o] (NaN for an image holding a non-finite value).
  std::vector<float> scales(size_t(s.N) * Coutp, 0.f), bias_p(Coutp, 0.f);
  for (int n = 0; n < s.N; ++n)
    for (int o = 0; o < Cout; ++o) scales[size_t(n) * Coutp + o] = img_scale[n] * w_scale[o];
  if (bias) std::copy(bias, bias + Cout, bias_p.begin());
  // Per image, for the kernels' finite-value shortcut (once here, not once per row).
  std::vector<char> bounded(size_t(s.N), 1);
  bool bias_bounded = true;
  for (int o = 0; o < Cout && bias; ++o) bias_bounded = bias_bounded && std::fabs(bias[o]) <= kFiniteBound;
  for (int n = 0; n < s.N; ++n) {
    bool ok = bias_bounded;
    for (int o = 0; o < Cout && ok; ++o) ok = std::fabs(scales[size_t(n) * Coutp + o]) <= kFiniteBound;  // NaN fails
    bounded[size_t(n)] = ok;
  }

  // 2. One task per output row (n, oh), reading a patch of its own: the widened rows are small
  // (3 x 58 x 128 int16 = 44 KB at ResNeXt's first stage) and stay in the core's cache, where one
  // shared widened image would be written by one thread and read by all.
  if (int64_t(s.N) * s.OH > 0x7fffffff) throw std::invalid_argument("qs8_gconv2d_static: N * OH exceeds 2^31 - 1");
  const int64_t cols = int64_t(s.OW - 1) * s.stride_w + int64_t(s.KW - 1) * s.dil_w + 1;
  const size_t pc = size_t(w.patch_c), row_stride = size_t(cols) * pc;
  // The zero point of the columns and rows outside the image, widened like the image's pixels.
  const std::vector<int8_t> zp_row(size_t(cols) * C, int8_t(io.in_zero_point));
  const bool fused = io.Yq && cfg.run_requant;
  const Requant rq{io.Yq ? 1.f / io.out_scale : 1.f, io.out_zero_point};
  const int64_t work = pixels * Cout * int64_t(w.cg) * s.KH * s.KW;
  const int threads = work >= (1 << 18) ? clamp_threads(num_threads) : 1;
  // Few output rows (late stages at batch 1: 7) would leave threads unequal: split each row's groups
  // too, in whole lane blocks (each split widens the row's patch for itself: small next to its MACs).
  const int rows = s.N * s.OH;
  const int quantum = std::max(1, cfg.lane_block(w.coutg, w.cg) / w.coutg);
  const int max_splits = (w.groups + quantum - 1) / quantum;
  const int splits = threads > 1 && rows < 4 * threads ? std::min(max_splits, (4 * threads + rows - 1) / rows) : 1;
  if (int64_t(rows) * splits > 0x7fffffff) throw std::invalid_argument("qs8_gconv2d_static: N * OH exceeds 2^31 - 1");
  parallel_for(rows * splits, threads, [&](int task) {
    const int t = task / splits, split = task % splits;
    const int g0 = std::min(w.groups, int(int64_t(max_splits) * split / splits) * quantum);
    const int g1 = std::min(w.groups, int(int64_t(max_splits) * (split + 1) / splits) * quantum);
    if (g1 <= g0) return;
    const int n = t / s.OH, oh = t % s.OH;
    // uint16_t storage: a std::vector<int16_t> here would share weak symbols with the AVX2 GEMM's
    // (.ci/check_isa_symbols.py), as the Winograd driver's buffers do not.
    std::vector<uint16_t> patch_big;
    std::vector<float> blk_big;
    int16_t* patch = reinterpret_cast<int16_t*>(thread_scratch<uint16_t, 0>(size_t(s.KH) * row_stride, &patch_big));
    const int64_t iw0 = -int64_t(s.pad_w);
    // Columns [j0, j1) of every patch row lie inside the image horizontally.
    const int j0 = int(std::min<int64_t>(cols, std::max<int64_t>(0, -iw0)));
    const int j1 = int(std::max<int64_t>(j0, std::min<int64_t>(cols, s.W - iw0)));
    for (int kh = 0; kh < s.KH; ++kh) {
      const int64_t ih = int64_t(oh) * s.stride_h - s.pad_h + int64_t(kh) * s.dil_h;
      int16_t* dst = patch + size_t(kh) * row_stride;
      if (ih < 0 || ih >= s.H) {
        cfg.widen(w, zp_row.data(), int(cols), dst);
        continue;
      }
      const int8_t* src = xq + ((int64_t(n) * s.H + ih) * s.W + iw0 + j0) * C;
      if (j0 > 0) cfg.widen(w, zp_row.data(), j0, dst);
      cfg.widen(w, src, j1 - j0, dst + size_t(j0) * pc);
      if (j1 < cols) cfg.widen(w, zp_row.data(), int(cols - j1), dst + size_t(j1) * pc);
    }
    const int64_t row0 = (int64_t(n) * s.OH + oh) * s.OW;
    const GconvRun run{patch, row_stride, size_t(s.stride_w) * pc, size_t(s.dil_w) * pc, s.OW, g0, g1};
    const float* sc = scales.data() + size_t(n) * Coutp;
    const float* b = bias ? bias_p.data() : nullptr;
    if (fused) {
      cfg.run_requant(w, run, sc, b, DwRequant{&io.post, &rq, io.Yq + row0 * Cout, row0, bounded[size_t(n)] != 0});
      return;
    }
    float* y = io.Yq ? thread_scratch<float, 2>(size_t(s.OW) * Cout, &blk_big) : io.Y + row0 * Cout;
    cfg.run(w, run, sc, b, y, size_t(Cout));
    const int c0 = g0 * w.coutg, c1 = g1 * w.coutg;
    qs8_conv_finish_block(qcfg, y + c0, Cout, s.OW, c1 - c0, row0, c0, Cout, io);
  });
}

}  // namespace nnslim
