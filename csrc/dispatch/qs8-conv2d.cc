// Static int8 convolution: quantize the NHWC input once, then per block of output pixels build the
// im2col rows (only that block, so it stays in cache) and run the int8 GEMM kernel with the fused
// dequantize + bias + ReLU epilogue. 1x1 stride-1 unpadded convolutions skip im2col entirely.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "nnslim/gemm.h"
#include "nnslim/conv_io.h"
#include "nnslim/postop.h"
#include "nnslim/winograd.h"

namespace nnslim {

namespace {

constexpr int kRowsPerTask = 128;

bool is_pointwise(const Conv2dShape& s) {
  return s.KH == 1 && s.KW == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0 &&
         s.groups == 1;
}

// Channel runs are short (often 3..512 bytes): fixed-size copies inline to vector moves, where a
// libc memcpy call per run would dominate. A run's tail is one more copy that overlaps the previous
// one, not a byte loop (a 7x7 RGB stem copies 21-byte runs: 16 + 16 overlapping, not 16 + 5 bytes).
inline void copy_run(int8_t* dst, const int8_t* src, int n) {
  if (n >= 16) {
    int c = 0;
    for (; c + 16 <= n; c += 16) std::memcpy(dst + c, src + c, 16);
    if (c < n) std::memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(dst, src, 8);
    std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else {
    for (int c = 0; c < n; ++c) dst[c] = src[c];
  }
}

// n bytes of zp at dst, short runs (the K padding of each im2col row, a stem's 3 channels at the image
// border) as overlapping stores instead of a memset call each.
inline void fill_run(int8_t* dst, int8_t zp, int n) {
  if (n > 16) {
    std::memset(dst, zp, size_t(n));
  } else if (n >= 8) {
    const uint64_t v = 0x0101010101010101ull * uint8_t(zp);
    std::memcpy(dst, &v, 8);
    std::memcpy(dst + n - 8, &v, 8);
  } else if (n >= 4) {
    const uint32_t v = 0x01010101u * uint8_t(zp);
    std::memcpy(dst, &v, 4);
    std::memcpy(dst + n - 4, &v, 4);
  } else if (n > 0) {
    dst[0] = dst[n / 2] = dst[n - 1] = zp;  // n = 1, 2, 3
  }
}

// The (kh) tap row of one im2col row: KW * cg bytes in (kw, c) order, the zero point where the
// window leaves the image.
void im2col_tap_row(const int8_t* xq, const Conv2dShape& s, int g, int64_t n, int64_t ih, int64_t iw0, int8_t zp,
                    int8_t* dst) {
  const int cg = s.C / s.groups;
  for (int kw = 0; kw < s.KW; ++kw, dst += cg) {
    const int64_t iw = iw0 + int64_t(kw) * s.dil_w;
    if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W)
      fill_run(dst, zp, cg);
    else
      copy_run(dst, xq + ((n * s.H + ih) * s.W + iw) * s.C + int64_t(g) * cg, cg);
  }
}

// Rows [p0, p0 + rows) of the im2col matrix of group g, row stride Kp: (kh, kw, c) order, zero point
// where a window leaves the image, zeros from K to Kp. Tap rows go kh by kh over a run of pixels of
// one output row, so the common case (window inside the image, no groups, no W dilation: one run of
// KW * C adjacent bytes) is a tight strided copy; a stem conv's 21-byte runs are single 32-byte moves
// whose overhang the next tap row, or the K padding zeroed last, overwrites.
void im2col_rows(const int8_t* xq, const int8_t* x_end, const Conv2dShape& s, int g, int64_t p0, int rows, int8_t zp,
                 int K, int Kp, int8_t* a) {
  const int cg = s.C / s.groups;
  const int len = s.KW * cg;
  const bool whole_rows = s.groups == 1 && s.dil_w == 1;
  // Output columns whose window lies inside the image horizontally: iw0 >= 0 and iw0 + KW <= W.
  const int64_t ow_in0 = (s.pad_w + s.stride_w - 1) / s.stride_w;
  const int64_t ow_in1 = s.W >= s.KW ? (s.W - s.KW + s.pad_w) / s.stride_w + 1 : 0;
  // int64 coordinates: oh * stride - pad + kh * dilation can exceed int32 for legal (checked) shapes.
  int64_t pix = p0;
  int r0 = 0;
  while (r0 < rows) {
    const int64_t ow0 = pix % s.OW, oh = (pix / s.OW) % s.OH, n = pix / (int64_t(s.OW) * s.OH);
    const int cnt = int(std::min<int64_t>(rows - r0, s.OW - ow0));  // pixels left in this output row
    int8_t* base = a + size_t(r0) * Kp;
    for (int kh = 0; kh < s.KH; ++kh) {
      const int64_t ih = oh * s.stride_h - s.pad_h + int64_t(kh) * s.dil_h;
      const bool row_in = ih >= 0 && ih < s.H;
      const int8_t* src_row = xq + (n * s.H + (row_in ? ih : 0)) * s.W * s.C;
      for (int i = 0; i < cnt; ++i) {
        const int64_t ow = ow0 + i;
        const int64_t iw0 = ow * s.stride_w - s.pad_w;
        int8_t* row = base + size_t(i) * Kp;
        int8_t* dst = row + size_t(kh) * len;
        if (whole_rows && row_in && ow >= ow_in0 && ow < ow_in1) {
          const int8_t* src = src_row + iw0 * s.C;
          if (len <= 32 && dst + 32 <= row + Kp && src + 32 <= x_end)
            std::memcpy(dst, src, 32);
          else
            copy_run(dst, src, len);
        } else {
          im2col_tap_row(xq, s, g, n, ih, iw0, zp, dst);
        }
      }
    }
    if (Kp > K)  // a few bytes (K padded to the ISA's multiple): stores in place (GCC made the byte loop
                 // that stood here one memset call per pixel, 5% of a 3x3 RGB stem)
      for (int i = 0; i < cnt; ++i) fill_run(base + size_t(i) * Kp + K, 0, Kp - K);
    r0 += cnt;
    pix += cnt;
  }
}

// Kernels with a direct row path (AMX) take k x k convs whose K blocks each stay inside one tap:
// stride-1 ones at any width (their rows run on through the padding, so tiles fill across rows) and
// others whose output rows fill most of a 16- or 32-row tile; the rest build im2col rows. Measured on
// an AMX Xeon, 3x3 stride 1, batch 1: 1.23-1.34x the im2col path at 56 / 28 / 14-wide maps, and at 7
// wide 1.4x once rows ran on (0.5x with one row per tile, 44% full); no gain at stride 2 (the padded
// copy is 4x the output there).
bool use_direct_rows(const Qs8GemmConfig& cfg, const ConvIO& io, const Conv2dShape& s, const PackedB& B,
                     int64_t pixels) {
  return cfg.conv_direct_row && (!io.Yq || cfg.fuses_requant) && s.groups == 1 && !is_pointwise(s) &&
         s.C % 64 == 0 && B.Kp == B.K && s.stride_w == 1 && (s.stride_h == 1 || s.OW >= 12) && pixels < 0x7fffffff &&
         int64_t(s.OH) * (s.W + 2 * int64_t(s.pad_w)) < 0x7fffffff;
}

// Row tasks grouped per thread: `per_thread` tasks of up to `task_rows` rows cover each thread's
// share of `share_rows` rows. Task t is rows [begin(t), end(t)), clipped to `rows`: empty past them.
struct RowTasks {
  int tasks, per_thread;
  int64_t share_rows, task_rows, rows;
  int64_t at(int t, int i) const {
    return std::min(rows, (t / per_thread) * share_rows + std::min(share_rows, i * task_rows));
  }
  int64_t begin(int t) const { return at(t, t % per_thread); }
  int64_t end(int t) const { return at(t, t % per_thread + 1); }
};

RowTasks balanced_row_tasks(int64_t rows, int threads, int mr) {
  auto up = [](int64_t x, int64_t m) { return (x + m - 1) / m * m; };
  const int64_t share = up((rows + threads - 1) / threads, mr);
  const int per_thread = int((share + kRowsPerTask - 1) / kRowsPerTask);
  const int64_t task_rows = up((share + per_thread - 1) / per_thread, mr);
  return RowTasks{per_thread * int((rows + share - 1) / share), per_thread, share, task_rows, rows};
}

}  // namespace

void set_requant_epilogue(GemmProblem* p, const ConvIO& io, const Requant& rq, int8_t* Cq, int64_t row0, int col0,
                          size_t ldcq) {
  p->epilogue = Epilogue::requant_s8;
  p->post = &io.post;
  p->rq = &rq;
  p->Cq = Cq;
  p->ldcq = ldcq;
  p->post_row0 = row0;
  p->post_col0 = col0;
}

bool qs8_conv_row_taps(const Conv2dShape& s, int packed_k, Isa isa) {
  return qs8_gemm_config(isa).conv_direct_row && s.groups == 1 && s.dil_w == 1 && int64_t(s.KW) * s.C < 64 &&
         int64_t(packed_k) == int64_t(s.KH) * 64;
}

bool qs8_conv_s2d_taps(const Conv2dShape& s, int packed_k, Isa isa) {
  const int64_t k = int64_t(packed_k);
  return qs8_gemm_config(isa).conv_direct_row && s.groups == 1 && s.stride_h == 2 && s.stride_w == 2 &&
         s.dil_h == 1 && s.dil_w == 1 && s.KH >= 2 && int64_t(s.KW + 1) / 2 * 4 * s.C <= 64 &&
         k == int64_t(s.KH + 1) / 2 * 64 && k != int64_t(s.KH) * s.KW * s.C;
}

namespace {

void conv_direct_rows(const Qs8GemmConfig& cfg, const ConvIO& io, const Conv2dShape& s, const PackedB& B,
                      const int8_t* xq, const float* pixel_scale, const float* b_scale, const float* bias, bool relu,
                      bool fused, const Requant& rq, int num_threads) {
  // The input once more, zero-point padded (or, s2d taps, as its space-to-depth image: a stride-1
  // conv), so that every tap of a row of output pixels is one strided tile; slack past the end for
  // the rows a partial tile computes and discards.
  const bool s2d = qs8_conv_s2d_taps(s, B.K, B.isa);
  const bool row_taps = !s2d && qs8_conv_row_taps(s, B.K, B.isa);
  const int64_t Hp = s.H + 2 * int64_t(s.pad_h), Wp = s.W + 2 * int64_t(s.pad_w);
  const int64_t Hx = s2d ? (Hp + 1) / 2 : Hp, Wx = s2d ? (Wp + 1) / 2 : Wp;  // the image the taps read
  // Virtual rows (an image's rows at the padded width) and problem rows are int indices.
  if (int64_t(s.N) * s.OH * s.OW >= 0x7fffffff || int64_t(s.OH) * Wx >= 0x7fffffff)
    throw std::invalid_argument("qs8_conv2d_static: the direct conv's pixel indices exceed 2^31 - 1");
  const int64_t Cx = s2d ? 4 * int64_t(s.C) : s.C;
  const size_t stride = s2d ? size_t(Cx) : size_t(s.stride_w) * s.C;
  const size_t img_bytes = size_t(Hx * Wx * Cx);
  const int kblocks = B.Kp / 64;
  const int64_t work = int64_t(s.N) * s.OH * s.OW * s.Cout * int64_t(B.K);
  const int threads = work >= (1 << 21) ? clamp_threads(num_threads) : 1;
  // Stride 1: an image's output rows run on through the padded width as one sequence of virtual
  // rows (DirectConvRow), so 32-row tiles fill across output rows (a 14-wide row alone filled one
  // 16-row tile, 14 rows per weight stream), in as few tasks as keep every thread busy (each task
  // loads and releases the tile configuration: 64-row tasks cost 18% at 64 channels). Strided
  // convs (and row-tap stems) run one output row per task.
  const bool flat = s2d || (!row_taps && s.stride_h == 1 && s.stride_w == 1);
  const int vwidth = flat ? int(Wx) : s.OW;
  const int vrows = flat ? (s.OH - 1) * int(Wx) + s.OW : s.OW;  // of one image (flat) or one row
  const int chunks = flat ? std::min((vrows + 31) / 32, std::max(1, (2 * threads + s.N - 1) / s.N)) : 1;
  const int task_rows = flat ? round_up((vrows + chunks - 1) / chunks, 32) : vrows;
  const int tasks = s.N * (flat ? chunks : s.OH);
  // Padded on as many threads as compute, however small the copy: both regions split rows in static
  // chunks, so each thread writes the padded rows it then reads. (Padded on one thread, the other
  // fetched its half from that core's L2 and the next call's copy invalidated it again: measured at
  // 2 threads, 64-channel 3x3 at 56x56, pad 16 us and 67 vs 52 us of compute per thread.)
  std::vector<int8_t> pad_big;
  const int8_t* xp = s2d ? qs8_space_to_depth_input(xq, s, int8_t(io.in_zero_point), 32 * stride + 64, threads, &pad_big)
                         : qs8_pad_input(xq, s, int8_t(io.in_zero_point), 32 * stride + 64, threads, &pad_big);

  GemmProblem p;
  p.k0 = 0;
  p.k1 = B.Kp;
  p.B = &B;
  p.a_scale = pixel_scale;
  p.b_scale = b_scale;
  p.bias = bias;
  p.relu = relu;
  p.ldc = s.Cout;
  if (fused) {
    set_requant_epilogue(&p, io, rq, io.Yq, 0, 0, s.Cout);  // rows are global pixel indices here
  } else {
    p.epilogue = Epilogue::store_f32;
    p.Cf = io.Y;  // an int8 output without a fused epilogue never reaches here (AMX fuses it)
  }
  // Few tasks (a 12-wide map at batch 1 has 12 rows) would idle threads: split panels too.
  int col_splits = tasks < 2 * threads ? std::min(B.num_panels, (2 * threads + tasks - 1) / tasks) : 1;
  // Weights too large for a core's L2 (ResNet's 512-channel 3x3: 2.4 MB) would stream from L3 once
  // per row block: each thread takes its own columns for every task instead (tasks column-major, so
  // the static schedule hands thread i splits i * col_splits / threads...), as the im2col path does.
  const bool by_columns = threads > 1 && int64_t(B.num_panels) * B.bytes_per_panel > (int64_t(1) << 20) &&
                          B.num_panels >= threads;
  if (by_columns) col_splits = std::min(B.num_panels, round_up(std::max(col_splits, threads), threads));
  parallel_for(tasks * col_splits, threads, [&](int t) {
    const int rt = by_columns ? t % tasks : t / col_splits, cs = by_columns ? t / tasks : t % col_splits;
    const int per_image = flat ? chunks : s.OH;
    const int64_t n = rt / per_image, oh = flat ? 0 : rt % per_image;
    std::vector<const int8_t*> tap(static_cast<size_t>(kblocks));
    for (int kb = 0; kb < kblocks; ++kb) {
      // A K block is a 64-channel slice of one tap, or (row / s2d taps) a whole tap row from kw = 0.
      if (s2d) {
        tap[size_t(kb)] = xp + size_t(n) * img_bytes + size_t(int64_t(kb) * Wx * Cx);
        continue;
      }
      const int k = kb * 64, tp = row_taps ? kb * s.KW : k / s.C, c0 = row_taps ? 0 : k % s.C;
      const int64_t kh = tp / s.KW, kw = tp % s.KW;
      tap[size_t(kb)] = xp + size_t(n) * img_bytes +
                        size_t(((oh * s.stride_h + kh * s.dil_h) * Wp + kw * s.dil_w) * s.C + c0);
    }
    DirectConvRow row;
    row.tap = tap.data();
    row.stride = stride;
    row.vwidth = vwidth;
    row.width = s.OW;
    row.m0 = int((n * s.OH + oh) * s.OW);
    row.v0 = flat ? (rt % per_image) * task_rows : 0;
    row.v1 = std::min(vrows, row.v0 + task_rows);
    const int panel0 = int(int64_t(B.num_panels) * cs / col_splits);
    const int panel1 = int(int64_t(B.num_panels) * (cs + 1) / col_splits);
    if (panel1 > panel0) cfg.conv_direct_row(p, row, panel0, panel1);
    if (!fused && !io.post.empty()) {
      // The task's output pixels are consecutive: from its first virtual row's pixel (or the next
      // row's start when that one is padding) to its last one's.
      auto first_pixel = [&](int v) {
        const int r = v / vwidth, c = v % vwidth;
        return row.m0 + r * s.OW + std::min(c, s.OW);
      };
      const int m_begin = first_pixel(row.v0), m_end = first_pixel(row.v1 - 1) + (((row.v1 - 1) % vwidth) < s.OW);
      const int col0 = panel0 * B.nr, col1 = std::min(panel1 * B.nr, s.Cout);
      if (col1 > col0 && m_end > m_begin)
        qs8_conv_finish_block(cfg, io.Y + size_t(m_begin) * s.Cout + col0, s.Cout, m_end - m_begin, col1 - col0,
                              m_begin, col0, s.Cout, io);
    }
  });
}

}  // namespace

void qs8_conv2d_static(const ConvIO& io_in, const Conv2dShape& s, const PackedB* const* group_weights,
                       const float* b_scale, const float* bias, bool relu, int num_threads, WinogradMode winograd) {
  ConvIO io = io_in;
  // A residual must be added before the activation, so ReLU moves from the GEMM epilogue to the post-op.
  if (relu && io.post.has_residual()) {
    if (io.post.act != Activation::none) throw std::invalid_argument("qs8_conv2d_static: relu and post.act both set");
    io.post.act = Activation::relu;
    relu = false;
  }
  const int64_t pixels = int64_t(s.N) * s.OH * s.OW;
  if (pixels == 0) return;
  const PackedB& B0 = *group_weights[0];
  const Qs8GemmConfig& cfg = qs8_gemm_config(B0.isa);
  const int coutg = s.Cout / s.groups;

  // 1. The int8 input: given, or quantized here (marking images that hold a non-finite value).
  const int64_t in_rows = int64_t(s.N) * s.H * s.W;
  std::vector<int8_t> xq_big;
  std::vector<float> ps_big, img_scale(s.N, io.in_scale);
  const int8_t* xq = io.Xq;
  if (!xq) {
    int8_t* q = thread_scratch<int8_t, 0>(size_t(in_rows) * s.C, &xq_big);
    qs8_quantize_images(cfg, io.X, s.N, int64_t(s.H) * s.W * s.C, io.in_scale, io.in_zero_point, q,
                        img_scale.data(), num_threads);
    xq = q;
  }
  const int8_t* x_end = xq + in_rows * s.C;
  float* pixel_scale = thread_scratch<float, 1>(pixels, &ps_big);
  const int64_t img_out = int64_t(s.OH) * s.OW;
  for (int n = 0; n < s.N; ++n) std::fill(pixel_scale + n * img_out, pixel_scale + (n + 1) * img_out, img_scale[n]);

  // An int8 output on kernels that can requantize in their epilogue: no fp32 block at all.
  const bool fused = io.Yq && cfg.fuses_requant;
  const Requant rq{io.Yq ? 1.f / io.out_scale : 1.f, io.out_zero_point};

  // 2a. AMX with 64-channel multiples: straight from a padded copy of the input, no im2col.
  if (qs8_conv_s2d_taps(s, B0.K, B0.isa) || qs8_conv_row_taps(s, B0.K, B0.isa)) {
    if (io.Yq && !cfg.fuses_requant) throw std::invalid_argument("qs8_conv2d_static: row-tap weights need a fusing kernel");
    conv_direct_rows(cfg, io, s, B0, xq, pixel_scale, b_scale, bias, relu, fused, rq, num_threads);
    return;
  }
  if (use_direct_rows(cfg, io, s, B0, pixels)) {
    conv_direct_rows(cfg, io, s, B0, xq, pixel_scale, b_scale, bias, relu, fused, rq, num_threads);
    return;
  }

  // 2b. Stride-1 3x3 convs as integer Winograd F(2x2, 3x3) where it pays (AVX2).
  if (qs8_conv_takes_winograd(s, B0, winograd)) {
    qs8_conv2d_winograd(io, s, B0, xq, pixel_scale, b_scale, bias, relu, num_threads);
    return;
  }

  // 2. Per block of output pixels: im2col (unless pointwise), then the GEMM of every group.
  const bool direct = is_pointwise(s) && B0.Kp == s.C;
  const int row_tasks = int((pixels + kRowsPerTask - 1) / kRowsPerTask);
  const int64_t work = pixels * s.Cout * int64_t(B0.K);
  const int threads = work >= (1 << 21) ? num_threads : 1;
  // Each thread's static share of the row tasks is one contiguous run of rows, so the shares are cut
  // equal (on micro-tile boundaries) and each is split into tasks of at most kRowsPerTask rows. Tasks
  // of kRowsPerTask from row 0 left them unequal: 784 rows (28 x 28) in 7 tasks gave one thread 512
  // rows and the other 272 (the second thread waited 23% of the conv on a Zen 3), 196 rows split
  // 128 / 68.
  const int team = clamp_threads(threads);
  const RowTasks balanced = balanced_row_tasks(pixels, team, cfg.mr);
  const bool even_rows = team > 1 && balanced.share_rows * team * 10 <= pixels * 11;  // within 10%
  // Few output pixels (late stages at batch 1: 7x7 = 49) would leave threads idle or unequal: split
  // the output channels (whole panels) too. Each split gathers its own copy of the block's im2col rows.
  int col_splits = 1;
  if (s.groups == 1 && row_tasks < 2 * threads && !even_rows)
    col_splits = std::min(B0.num_panels, (2 * threads + row_tasks - 1) / row_tasks);
  // Weights too large for a core's L2 (ResNet's 512-channel 3x3: 2.4 MB) would stream once per row
  // task: give each thread its own columns for every row block instead (tasks column-major, so the
  // static schedule hands thread i split i), at the price of each split building its own im2col.
  bool by_columns = false;
  if (s.groups == 1 && col_splits == 1 && threads > 1 && int64_t(B0.num_panels) * B0.bytes_per_panel > (int64_t(1) << 20) &&
      B0.num_panels >= threads) {
    col_splits = threads;
    by_columns = true;
  }
  const RowTasks rows_of = col_splits == 1 && even_rows
                               ? balanced
                               : RowTasks{row_tasks, 1, int64_t(kRowsPerTask), int64_t(kRowsPerTask), pixels};
  parallel_for(rows_of.tasks * col_splits, threads, [&](int t) {
    const int rt = by_columns ? t % row_tasks : t / col_splits, cs = by_columns ? t / row_tasks : t % col_splits;
    const int64_t p0 = rows_of.begin(rt);
    const int rows = int(rows_of.end(rt) - p0);
    if (rows <= 0) return;
    std::vector<int8_t> a_big;
    std::vector<int32_t> rowsum_big;
    std::vector<float> blk_big;
    int32_t* rowsum = thread_scratch<int32_t, 0>(rows, &rowsum_big);
    // fp32 results go straight to Y, or (int8 output) to a cache-sized block that is requantized.
    float* out = io.Yq ? thread_scratch<float, 2>(size_t(rows) * s.Cout, &blk_big) : io.Y + p0 * s.Cout;
    int8_t* a = nullptr;
    int col0 = 0, col1 = s.Cout;
    for (int g = 0; g < s.groups; ++g) {
      const PackedB& B = *group_weights[g];
      GemmProblem p;
      p.M = rows;
      p.k0 = 0;
      p.k1 = B.Kp;
      if (direct) {
        p.A = xq + p0 * s.C;
        p.lda = s.C;
      } else {
        a = thread_scratch<int8_t, 1>(size_t(rows) * B.Kp, &a_big);
        im2col_rows(xq, x_end, s, g, p0, rows, int8_t(io.in_zero_point), B.K, B.Kp, a);
        p.A = a;
        p.lda = B.Kp;
      }
      if (cfg.row_sums) cfg.row_sums(p.A, p.lda, rows, 0, B.K, rowsum);
      p.a_rowsum = rowsum;
      p.B = &B;
      p.epilogue = Epilogue::store_f32;
      p.Cf = out + int64_t(g) * coutg;
      p.ldc = s.Cout;
      p.a_scale = pixel_scale + p0;
      p.b_scale = b_scale + int64_t(g) * coutg;
      p.bias = bias ? bias + int64_t(g) * coutg : nullptr;
      p.relu = relu;
      if (fused) set_requant_epilogue(&p, io, rq, io.Yq + p0 * s.Cout + int64_t(g) * coutg, p0, g * coutg, s.Cout);
      const int panel0 = int(int64_t(B.num_panels) * cs / col_splits);
      const int panel1 = int(int64_t(B.num_panels) * (cs + 1) / col_splits);
      if (col_splits > 1) {
        col0 = panel0 * B.nr;
        col1 = std::min(panel1 * B.nr, s.Cout);
      }
      if (panel1 > panel0) cfg.gemm(p, 0, rows, panel0, panel1);
    }
    if (!fused && col1 > col0) qs8_conv_finish_block(cfg, out + col0, s.Cout, rows, col1 - col0, p0, col0, s.Cout, io);
  });
}

}  // namespace nnslim
