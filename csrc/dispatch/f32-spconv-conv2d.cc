// The sparse convolution. Pointwise (1x1, stride 1, unpadded) layers are a plain SpMM over each
// NCHW image. Everything else copies the image into phase planes (f32-spconv.h) and runs the same
// kernel over the flat output grid m = oh * ws + ow, where each nonzero (co, ci, kh, kw) is one
// precomputed offset: no im2col.
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "../kernels/f32-spconv/f32-spconv.h"
#include "../kernels/f32-spmm/f32-spmm.h"
#include "nnslim/gemm.h"
#include "nnslim/spmm.h"

namespace nnslim {

namespace {

// Below ~4M multiply-add lanes (~80 us on one core) a second thread costs more than it saves: waking
// a pool worker measured 20-30 us here, and the worker may land on the caller's core.
constexpr int64_t kMinParallelWork = int64_t(1) << 22;
constexpr int64_t kMaxOffset = std::numeric_limits<int32_t>::max();

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

}  // namespace

void Conv2dGeometry::validate() const {
  if (in_channels < 1) bad("in_channels: must be >= 1, got " + std::to_string(in_channels));
  if (out_channels < 1) bad("out_channels: must be >= 1, got " + std::to_string(out_channels));
  if (kh < 1 || kw < 1) bad("kernel_size: must be >= 1, got (" + std::to_string(kh) + ", " + std::to_string(kw) + ")");
  if (stride_h < 1 || stride_w < 1)
    bad("stride: must be >= 1, got (" + std::to_string(stride_h) + ", " + std::to_string(stride_w) + ")");
  if (dilation_h < 1 || dilation_w < 1)
    bad("dilation: must be >= 1, got (" + std::to_string(dilation_h) + ", " + std::to_string(dilation_w) + ")");
  if (pad_top < 0 || pad_bottom < 0 || pad_left < 0 || pad_right < 0) bad("padding: must be >= 0");
  if (int64_t(in_channels) * kh * kw > std::numeric_limits<int32_t>::max())
    bad("in_channels: in_channels * kh * kw exceeds 2^31 - 1");
}

void Conv2dGeometry::output_size(int H, int W, int* Ho, int* Wo) const {
  if (H < 1 || W < 1) bad("input: spatial size must be >= 1, got " + std::to_string(H) + "x" + std::to_string(W));
  const int64_t hp = int64_t(H) + pad_top + pad_bottom, wp = int64_t(W) + pad_left + pad_right;
  const int64_t eh = int64_t(dilation_h) * (kh - 1) + 1, ew = int64_t(dilation_w) * (kw - 1) + 1;
  // The packing and kernels index padded planes with int: refuse geometries that would wrap.
  constexpr int64_t kIntMax = 0x7fffffff;
  if (hp > kIntMax || wp > kIntMax || eh > kIntMax || ew > kIntMax || hp * wp > kIntMax)
    bad("input: padded size " + std::to_string(hp) + "x" + std::to_string(wp) + " or dilated kernel " +
        std::to_string(eh) + "x" + std::to_string(ew) + " exceeds 2^31 - 1 elements");
  if (hp < eh || wp < ew)
    bad("input: padded size " + std::to_string(hp) + "x" + std::to_string(wp) + " is smaller than the dilated kernel " +
        std::to_string(eh) + "x" + std::to_string(ew));
  *Ho = int((hp - eh) / stride_h + 1);
  *Wo = int((wp - ew) / stride_w + 1);
}

struct F32SparseConv2d::Plan {
  int H = 0, W = 0, Ho = 0, Wo = 0;
  bool direct = false;  // pointwise: offsets index the image itself
  PlaneLayout planes;
  int grid_ws = 0;      // flat grid row length (ws of the planes, or W)
  std::vector<int32_t> offsets;
};

F32SparseConv2d::F32SparseConv2d(Csr w, const Conv2dGeometry& g, Isa isa) : w_(std::move(w)), g_(g), isa_(isa) {
  g_.validate();
  require_isa(isa);
  if (w_.rows != g_.out_channels)
    bad("indptr: expected out_channels + 1 = " + std::to_string(g_.out_channels + 1) + " entries");
  if (int64_t(w_.cols) != int64_t(g_.in_channels) * g_.kh * g_.kw)
    bad("weight: CSR has " + std::to_string(w_.cols) + " columns, expected in_channels * kh * kw = " +
        std::to_string(int64_t(g_.in_channels) * g_.kh * g_.kw));
}

bool F32SparseConv2d::is_pointwise() const {
  return g_.kh == 1 && g_.kw == 1 && g_.stride_h == 1 && g_.stride_w == 1 && g_.pad_top == 0 && g_.pad_bottom == 0 &&
         g_.pad_left == 0 && g_.pad_right == 0;
}

std::shared_ptr<const F32SparseConv2d::Plan> F32SparseConv2d::plan_for(int H, int W) const {
  {
    std::lock_guard<std::mutex> lk(plan_mu_);
    if (plan_ && plan_->H == H && plan_->W == W) return plan_;
  }
  auto plan = std::make_shared<Plan>();
  plan->H = H;
  plan->W = W;
  g_.output_size(H, W, &plan->Ho, &plan->Wo);
  plan->direct = is_pointwise();
  plan->offsets.resize(w_.indices.size());
  const int taps = g_.kh * g_.kw;
  if (plan->direct) {
    if (int64_t(g_.in_channels) * H * W > kMaxOffset) bad("input: in_channels * H * W exceeds 2^31 - 1");
    plan->grid_ws = W;
    for (size_t p = 0; p < plan->offsets.size(); ++p) plan->offsets[p] = w_.indices[p] * H * W;
  } else {
    const PlaneLayout& l = plan->planes = plane_layout(g_, H, W);
    if (l.total_elems() > size_t(kMaxOffset)) bad("input: the padded image exceeds 2^31 - 1 elements");
    plan->grid_ws = l.ws;
    for (size_t p = 0; p < plan->offsets.size(); ++p) {
      const int c = w_.indices[p];
      const int ci = c / taps, r = c % taps / g_.kw * g_.dilation_h, q = c % g_.kw * g_.dilation_w;
      plan->offsets[p] = int32_t(l.offset(g_, ci, r, q));
    }
  }
  std::lock_guard<std::mutex> lk(plan_mu_);
  plan_ = plan;
  return plan;
}

void F32SparseConv2d::forward(const float* x, int batch, int H, int W, const float* bias, float* y,
                              int num_threads) const {
  const std::shared_ptr<const Plan> plan = plan_for(H, W);
  if (batch <= 0) return;
  const F32SpmmConfig& cfg = f32_spmm_config(isa_);
  const int cin = g_.in_channels, cout = g_.out_channels;
  const int Ho = plan->Ho, Wo = plan->Wo;
  const int mgrid = plan->direct ? H * W : Ho * plan->grid_ws;
  const int64_t work = (w_.nnz() + 4 * int64_t(cout)) * mgrid;
  const int threads = work * batch < kMinParallelWork ? 1 : std::max(1, num_threads);
  const SpmmKernel kernel = !plan->direct ? cfg.grid : mgrid <= cfg.gather_max_m ? cfg.gather : cfg.cm;

  // Scratch for the phase planes of one image, per concurrently packed image.
  const size_t plane_elems = plan->direct ? 0 : plan->planes.total_elems();
  auto make_planes = [&](int count) {
    AlignedFloats buf = aligned_floats(plane_elems * count);
    const size_t body = size_t(cin) * plan->planes.channel_elems;
    for (int i = 0; i < count; ++i) std::fill(buf.get() + i * plane_elems + body, buf.get() + (i + 1) * plane_elems, 0.f);
    return buf;
  };
  auto args_for = [&](int b, const float* planes) {
    SpmmKernelArgs a;
    a.indptr = w_.indptr.data();
    a.offsets = plan->offsets.data();
    a.values = w_.values.data();
    a.bias = bias;
    a.x = plan->direct ? x + size_t(b) * cin * H * W : planes;
    a.y = y + size_t(b) * cout * Ho * Wo;
    a.ldy = size_t(Ho) * Wo;
    a.grid_ws = plan->grid_ws;
    a.grid_wo = Wo;
    a.x_mstride = 1;  // gather kernel: a pointwise layer on a 1x1 map (squeeze-excite, pooled heads)
    a.y_mstride = 1;
    a.y_nstride = a.ldy;
    return a;
  };

  if (threads > 1 && (batch % threads == 0 || batch >= 4 * threads)) {
    // Whole images per thread: one dispatch for the batch, no split of any image's work.
    AlignedFloats planes = plan->direct ? AlignedFloats() : make_planes(threads);
    parallel_for(threads, threads, [&](int t) {
      float* mine = plan->direct ? nullptr : planes.get() + t * plane_elems;
      for (int b = t; b < batch; b += threads) {
        if (!plan->direct) f32_spconv_pack_planes(x + size_t(b) * cin * H * W, 0, cin, H, W, g_, plan->planes, mine);
        kernel(args_for(b, mine), 0, cout, 0, mgrid);
      }
    });
    return;
  }

  // One image at a time: output channels split by nonzeros, and the grid into up to 4 chunks of
  // whole tiles, so more tasks than threads let the pool even out a thread that runs slow while each
  // task still sweeps its rows over a cache-resident slice of the input.
  const std::vector<int> bounds = partition_rows_by_nnz(w_.indptr, threads, 1);
  const int tiles = (mgrid + cfg.mr - 1) / cfg.mr;
  const int mchunks = threads == 1 ? 1 : std::max(1, std::min(tiles / 4, 4));
  const int tiles_per_chunk = (tiles + mchunks - 1) / mchunks;
  AlignedFloats planes = plan->direct ? AlignedFloats() : make_planes(1);
  const int pack_tasks = std::min(cin, 4 * threads);
  for (int b = 0; b < batch; ++b) {
    if (!plan->direct) {
      const float* xb = x + size_t(b) * cin * H * W;
      parallel_for(pack_tasks, threads, [&](int t) {
        const int c0 = int(int64_t(cin) * t / pack_tasks), c1 = int(int64_t(cin) * (t + 1) / pack_tasks);
        f32_spconv_pack_planes(xb, c0, c1, H, W, g_, plan->planes, planes.get());
      });
    }
    const SpmmKernelArgs a = args_for(b, planes.get());
    parallel_for(threads * mchunks, threads, [&](int t) {
      const int part = t % threads, chunk = t / threads;
      const int n0 = bounds[part], n1 = bounds[part + 1];
      const int m0 = chunk * tiles_per_chunk * cfg.mr, m1 = std::min(mgrid, m0 + tiles_per_chunk * cfg.mr);
      if (n0 < n1 && m0 < m1) kernel(a, n0, n1, m0, m1);
    });
  }
}

}  // namespace nnslim
