// Drives the integer Winograd F(2x2, 3x3) kernels (kernels/qs8-winograd/): per task, a band of tile
// rows of one image is transformed once (V, int16, all 16 positions), then per weight panel every
// 6-tile block runs the 16 position GEMMs and the output transform, the band's int32 accumulators
// are gathered in pixel order and the GEMM's own epilogue (dequantize, bias, residual, activation,
// requantize) finishes them. Nothing is padded: window pixels outside the image point at a row of
// the zero point.
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "../kernels/qs8-gemm/qs8-gemm.h"
#include "../kernels/qs8-winograd/qs8-winograd.h"
#include "nnslim/winograd.h"

namespace nnslim {

const Qs8WinogradKernels* qs8_winograd_kernels(Isa isa) {
  static const Qs8WinogradKernels scalar{nnslim_qs8_winograd_input_tile__scalar, nnslim_qs8_winograd_tile_block__scalar,
                                         nnslim_qs8_store_acc__scalar};
  static const Qs8WinogradKernels avx2{nnslim_qs8_winograd_input_tile__avx2, nnslim_qs8_winograd_tile_block__avx2,
                                       nnslim_qs8_store_acc__avx2};
  switch (isa) {
    case Isa::scalar: return &scalar;
    case Isa::avx2: return &avx2;
    default: return nullptr;
  }
}

WinogradMode winograd_mode_arg(const std::string& value, const char* arg) {
  if (value == "auto") return WinogradMode::automatic;
  if (value == "always") return WinogradMode::always;
  if (value == "never") return WinogradMode::never;
  throw std::invalid_argument(std::string(arg) + ": expected 'auto', 'always' or 'never', got '" + value + "'");
}

namespace {

// 3x3, stride 1, dilation 1, one group, C <= kWinogradMaxC.
bool winograd_geometry(int KH, int KW, int stride_h, int stride_w, int dil_h, int dil_w, int groups, int C) {
  return KH == 3 && KW == 3 && stride_h == 1 && stride_w == 1 && dil_h == 1 && dil_w == 1 && groups == 1 &&
         C <= kWinogradMaxC;
}

// automatic's condition on the ISA and channels: AVX2 (elsewhere an int8 multiply does at least twice
// the products of an int16 one), and C >= 16 (fewer channels leave the transforms most of the work).
bool winograd_pays_on(Isa isa, int C) { return isa == Isa::avx2 && C >= 16; }

}  // namespace

bool qs8_winograd_applies(const Conv2dShape& s, const PackedB& B) {
  return qs8_winograd_kernels(B.isa) && winograd_geometry(s.KH, s.KW, s.stride_h, s.stride_w, s.dil_h, s.dil_w, s.groups, s.C) &&
         int64_t(B.K) == 9 * int64_t(s.C) && B.N == s.Cout;
}

bool qs8_winograd_pays(const Conv2dShape& s, const PackedB& B) {
  // The transformed weights are 16 / 9 x as many int16 values (3.6x the int8 bytes) and every task
  // streams them: enough tiles must share them.
  const int64_t tiles = int64_t(s.N) * ((s.OH + 1) / 2) * ((s.OW + 1) / 2);
  return winograd_pays_on(B.isa, s.C) && tiles >= 16;
}

bool qs8_winograd_candidate(int KH, int KW, int stride_h, int stride_w, int dil_h, int dil_w, int groups, int C,
                            Isa isa) {
  return qs8_winograd_kernels(isa) && winograd_geometry(KH, KW, stride_h, stride_w, dil_h, dil_w, groups, C) &&
         winograd_pays_on(isa, C);
}

const WinogradWeights& qs8_winograd_weights(const PackedB& B, int C) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (B.winograd && B.winograd->C == C) return *B.winograd;
  int8_t (*weight)(const PackedB&, int, int) = B.isa == Isa::scalar ? nnslim_qs8_gemm_weight__scalar
                                               : B.isa == Isa::avx2 ? nnslim_qs8_gemm_weight__avx2
                                                                    : nullptr;
  if (!weight || int64_t(B.K) != 9 * int64_t(C))
    throw std::invalid_argument("qs8_winograd_weights: expected 3x3 weights of an ISA with Winograd kernels");
  auto w = std::make_shared<WinogradWeights>();
  w->C = C;
  w->Cp = round_up(C, 2);
  w->Cout = B.N;
  w->num_panels = (B.N + kWinogradNR - 1) / kWinogradNR;
  w->storage_size = size_t(w->num_panels) * w->panel_stride() + 32;
  w->storage.reset(new int16_t[w->storage_size]());
  const uintptr_t base = reinterpret_cast<uintptr_t>(w->storage.get());
  w->data = w->storage.get() + ((64 - base % 64) % 64) / 2;
  int16_t* out = const_cast<int16_t*>(w->data);
  for (int n = 0; n < B.N; ++n)
    for (int c = 0; c < C; ++c) {
      int g[3][3], t[4][3];
      for (int k = 0; k < 9; ++k) g[k / 3][k % 3] = weight(B, n, k * C + c);
      for (int j = 0; j < 3; ++j) {  // G2 g
        t[0][j] = 2 * g[0][j];
        t[1][j] = g[0][j] + g[1][j] + g[2][j];
        t[2][j] = g[0][j] - g[1][j] + g[2][j];
        t[3][j] = 2 * g[2][j];
      }
      int16_t* dst = out + size_t(n / kWinogradNR) * w->panel_stride() + size_t(c / 2) * 2 * kWinogradNR +
                     (n % kWinogradNR) * 2 + c % 2;
      for (int i = 0; i < 4; ++i) {  // (G2 g) G2^T
        const int u[4] = {2 * t[i][0], t[i][0] + t[i][1] + t[i][2], t[i][0] - t[i][1] + t[i][2], 2 * t[i][2]};
        for (int j = 0; j < 4; ++j) dst[(4 * i + j) * w->pos_stride()] = int16_t(u[j]);
      }
    }
  B.winograd = std::move(w);
  return *B.winograd;
}

void qs8_conv2d_winograd(const ConvIO& io, const Conv2dShape& s, const PackedB& B, const int8_t* xq,
                         const float* pixel_scale, const float* b_scale, const float* bias, bool relu, int num_threads) {
  const Qs8GemmConfig& cfg = qs8_gemm_config(B.isa);
  const Qs8WinogradKernels& kern = *qs8_winograd_kernels(B.isa);
  const WinogradWeights& U = qs8_winograd_weights(B, s.C);
  const bool fused = io.Yq && cfg.fuses_requant;
  const Requant rq{io.Yq ? 1.f / io.out_scale : 1.f, io.out_zero_point};
  const int th = (s.OH + 1) / 2, tw = (s.OW + 1) / 2, Cp = U.Cp;
  const int64_t work = int64_t(s.N) * s.OH * s.OW * s.Cout * int64_t(B.K);
  const int threads = work >= (1 << 21) ? clamp_threads(num_threads) : 1;
  // Weights beyond a core's L2 (256 channels: 2.4 MB transformed) would stream once per task on
  // every thread: each thread takes its own panels for every task instead.
  const bool by_columns = threads > 1 && U.storage_size * sizeof(int16_t) > (size_t(1) << 20) &&
                          U.num_panels >= threads;
  // Tile rows per task: V (32 bytes per tile and channel) within 256 KB, so it stays in L2 while every
  // panel reads it; among those, the count whose busiest thread has the fewest tile rows.
  const int64_t v_row_bytes = 32 * int64_t(tw) * Cp;
  const int rmax = int(std::max<int64_t>(1, std::min<int64_t>(th, (int64_t(256) << 10) / v_row_bytes)));
  int band = rmax;
  if (threads > 1 && !by_columns) {
    int64_t best = -1;
    for (int r = rmax; r >= 1; --r) {
      const int64_t tasks = int64_t(s.N) * ((th + r - 1) / r);
      const int64_t load = (tasks + threads - 1) / threads * r;
      if (best < 0 || load < best) best = load, band = r;
    }
  }
  const int per_image = (th + band - 1) / band;
  if (int64_t(s.N) * per_image * threads > 0x7fffffff)
    throw std::invalid_argument("qs8_conv2d_static: too many Winograd tasks");
  const int tasks = s.N * per_image;
  const int col_splits = by_columns ? threads : tasks < threads ? std::min(U.num_panels, threads) : 1;
  parallel_for(tasks * col_splits, threads, [&](int t) {
    const int rt = by_columns ? t % tasks : t / col_splits, cs = by_columns ? t / tasks : t % col_splits;
    const int64_t n = rt / per_image;
    const int ty0 = (rt % per_image) * band, ty1 = std::min(th, ty0 + band);
    const int T = (ty1 - ty0) * tw;
    const int oh0 = 2 * ty0, oh1 = std::min(s.OH, 2 * ty1);
    const int64_t m0 = (n * s.OH + oh0) * s.OW;
    const int rows = (oh1 - oh0) * s.OW;
    std::vector<uint16_t> v_big;  // uint16_t: see WinogradWeights::storage (int16_t may alias it)
    std::vector<int32_t> acc_big;
    std::vector<int8_t> zp_big;
    std::vector<float> blk_big;
    // 1. V of the band's tiles; window pixels outside the image read the zero point.
    int8_t* zrow = thread_scratch<int8_t, 3>(size_t(s.C), &zp_big);
    std::memset(zrow, int8_t(io.in_zero_point), size_t(s.C));
    int16_t* V = reinterpret_cast<int16_t*>(thread_scratch<uint16_t, 1>(size_t(16) * T * Cp, &v_big));
    const size_t v_pos = size_t(T) * Cp;
    const int8_t* img = xq + size_t(n) * s.H * s.W * s.C;
    for (int ty = ty0; ty < ty1; ++ty)
      for (int tx = 0; tx < tw; ++tx) {
        const int8_t* d[16];
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            const int64_t ih = 2 * int64_t(ty) - s.pad_h + i, iw = 2 * int64_t(tx) - s.pad_w + j;
            d[4 * i + j] = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W ? img + (ih * s.W + iw) * s.C : zrow;
          }
        kern.input_tile(d, s.C, Cp, V + size_t((ty - ty0) * tw + tx) * Cp, v_pos);
      }
    // 2. Per panel: the tiles' accumulators in pixel order (row stride 16), then the epilogue.
    int32_t* acc = thread_scratch<int32_t, 3>(size_t(rows) * kWinogradNR, &acc_big);
    float* out = io.Yq ? (fused ? nullptr : thread_scratch<float, 2>(size_t(rows) * s.Cout, &blk_big))
                       : io.Y + size_t(m0) * s.Cout;
    GemmProblem p;
    p.M = rows;
    p.a_scale = pixel_scale + m0;
    p.b_scale = b_scale;
    p.bias = bias;
    p.relu = relu;
    p.ldc = s.Cout;
    if (fused) {
      set_requant_epilogue(&p, io, rq, io.Yq + size_t(m0) * s.Cout, m0, 0, s.Cout);
    } else {
      p.epilogue = Epilogue::store_f32;
      p.Cf = out;
    }
    const int panel0 = int(int64_t(U.num_panels) * cs / col_splits);
    const int panel1 = int(int64_t(U.num_panels) * (cs + 1) / col_splits);
    alignas(32) int32_t tile_out[kWinogradMR * 4 * kWinogradNR];
    for (int panel = panel0; panel < panel1; ++panel) {
      const int16_t* u = U.data + size_t(panel) * U.panel_stride();
      for (int rb = 0; rb < T; rb += kWinogradMR) {
        const int nt = std::min(kWinogradMR, T - rb);
        kern.tile_block(V + size_t(rb) * Cp, v_pos, size_t(Cp), nt, u, U.pos_stride(), Cp / 2, tile_out);
        for (int j = 0; j < nt; ++j) {
          const int ty = ty0 + (rb + j) / tw, tx = (rb + j) % tw;
          for (int px = 0; px < 4; ++px) {
            const int oy = 2 * ty + px / 2, ox = 2 * tx + px % 2;
            if (oy < s.OH && ox < s.OW)
              std::memcpy(acc + size_t((oy - oh0) * s.OW + ox) * kWinogradNR, tile_out + (j * 4 + px) * kWinogradNR,
                          sizeof(int32_t) * kWinogradNR);
          }
        }
      }
      const int n0 = panel * kWinogradNR;
      kern.store_acc(p, 0, rows, n0, std::min(kWinogradNR, s.Cout - n0), acc);
    }
    const int col0 = panel0 * kWinogradNR, col1 = std::min(panel1 * kWinogradNR, s.Cout);
    if (!fused && col1 > col0) qs8_conv_finish_block(cfg, out + col0, s.Cout, rows, col1 - col0, m0, col0, s.Cout, io);
  });
}

}  // namespace nnslim
