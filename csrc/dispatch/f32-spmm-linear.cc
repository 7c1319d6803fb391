// The sparse linear layer: X is transposed block by block (mr rows at a time) so that every
// nonzero's operand is a contiguous run, then rows of W (split between threads by nonzero count)
// sweep each block with the row-major kernel.
#include <algorithm>
#include <limits>
#include <memory>
#include <stdexcept>

#include "../kernels/f32-bspmm/f32-bspmm.h"
#include "../kernels/f32-spmm/f32-spmm.h"
#include "nnslim/gemm.h"
#include "nnslim/spmm.h"

namespace nnslim {

namespace {

// Below ~4M multiply-add lanes (~80 us on one core) a second thread costs more than it saves: waking
// a pool worker measured 20-30 us here, and the worker may land on the caller's core.
constexpr int64_t kMinParallelWork = int64_t(1) << 22;

}  // namespace

const F32BspmmConfig& f32_bspmm_config(Isa isa) {
  static const F32BspmmConfig configs[] = {{Isa::scalar, 16, nnslim_f32_bspmm_4x1__scalar},
                                           {Isa::avx2, 16, nnslim_f32_bspmm_4x1__avx2},
                                           {Isa::avx512vnni, 32, nnslim_f32_bspmm_4x1__avx512}};
  return configs[isa == Isa::scalar ? 0 : isa == Isa::avx2 ? 1 : 2];
}

F32SparseLinear::F32SparseLinear(Csr w, Isa isa, SpmmFormat format) : w_(std::move(w)), isa_(isa) {
  require_isa(isa);
  mb_ = f32_spmm_config(isa).mr;
  if (int64_t(w_.cols) * mb_ > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("weight: in_features " + std::to_string(w_.cols) + " is too large");
  offsets_.resize(w_.indices.size());
  for (size_t p = 0; p < offsets_.size(); ++p) offsets_[p] = w_.indices[p] * mb_;
  if (format == SpmmFormat::csr || w_.rows == 0) return;
  // Blocks of 4 rows: merge the 4 rows' sorted column lists.
  const int nbr = (w_.rows + 3) / 4;
  std::vector<int64_t> bptr(size_t(nbr) + 1, 0);
  std::vector<int32_t> cols;
  std::vector<float> vals;
  for (int b = 0; b < nbr; ++b) {
    int64_t pos[4], end[4];
    for (int r = 0; r < 4; ++r) {
      const int n = 4 * b + r;
      pos[r] = n < w_.rows ? w_.indptr[n] : 0;
      end[r] = n < w_.rows ? w_.indptr[n + 1] : 0;
    }
    for (;;) {
      int32_t c = std::numeric_limits<int32_t>::max();
      for (int r = 0; r < 4; ++r)
        if (pos[r] < end[r]) c = std::min(c, w_.indices[pos[r]]);
      if (c == std::numeric_limits<int32_t>::max()) break;
      cols.push_back(c);
      for (int r = 0; r < 4; ++r) {
        const bool here = pos[r] < end[r] && w_.indices[pos[r]] == c;
        vals.push_back(here ? w_.values[pos[r]] : 0.f);
        if (here) ++pos[r];
      }
    }
    bptr[size_t(b) + 1] = int64_t(cols.size());
  }
  // Blocks at least 40% full: measured break-even with CSR (AMD Zen 3, 2 threads: 4x1-pruned weights
  // 1.3-1.8x CSR's speed, unstructured 60% 1.2-2.8x, 70% (39% full) 0.9-1.3x, 90% (29%) 0.7x).
  if (format == SpmmFormat::automatic && 5 * w_.nnz() < 2 * int64_t(vals.size())) return;
  bptr_ = std::move(bptr);
  bcols_ = std::move(cols);
  bvals_ = std::move(vals);
}

void F32SparseLinear::forward_blocks(const float* x, size_t ldx, int M, const float* bias, float* y, size_t ldy,
                                     int threads) const {
  const F32SpmmConfig& cfg = f32_spmm_config(isa_);
  const F32BspmmConfig& bc = f32_bspmm_config(isa_);
  const int K = w_.cols, mb = bc.mb, ntiles = (M + mb - 1) / mb;
  auto xt = aligned_floats(size_t(ntiles) * K * mb);
  float* xtp = xt.get();
  if (M % mb)  // the packer leaves lanes past the next vector of the last tile unwritten
    std::fill(xtp + size_t(ntiles - 1) * K * mb, xtp + size_t(ntiles) * K * mb, 0.f);
  parallel_for(ntiles, std::min(threads, ntiles), [&](int i) {
    cfg.pack_xt(x + size_t(i) * mb * ldx, ldx, std::min(mb, M - i * mb), K, mb, xtp + size_t(i) * K * mb);
  });
  // Whole tile ranges per task when there are many tiles, block-row ranges when few (see qs8-spmm).
  const int parts = threads == 1 || ntiles >= 2 * threads ? 1 : 2 * threads;
  const int tile_tasks = threads == 1 ? 1 : std::min(ntiles, 4 * threads);
  const std::vector<int> bounds = partition_rows_by_nnz(bptr_, parts, 1);
  parallel_for(tile_tasks * parts, threads, [&](int task) {
    const int chunk = task / parts, part = task % parts;
    if (bounds[part] >= bounds[part + 1]) return;
    for (int i = int(int64_t(ntiles) * chunk / tile_tasks), ie = int(int64_t(ntiles) * (chunk + 1) / tile_tasks);
         i < ie; ++i) {
      BspmmArgs a;
      a.bptr = bptr_.data();
      a.cols = bcols_.data();
      a.values = bvals_.data();
      a.bias = bias;
      a.N = w_.rows;
      a.xt = xtp + size_t(i) * K * mb;
      a.m0 = i * mb;
      a.mvalid = std::min(mb, M - a.m0);
      a.y = y;
      a.ldy = ldy;
      bc.kernel(a, bounds[part], bounds[part + 1]);
    }
  });
}

void F32SparseLinear::forward(const float* x, size_t ldx, int M, const float* bias, float* y, size_t ldy,
                              int num_threads) const {
  if (M <= 0 || w_.rows == 0) return;
  const F32SpmmConfig& cfg = f32_spmm_config(isa_);
  const int K = w_.cols, mb = mb_;
  const int nblocks = (M + mb - 1) / mb;
  const int64_t work = (w_.nnz() + 4 * int64_t(w_.rows)) * M;
  const int threads = work < kMinParallelWork ? 1 : clamp_threads(num_threads);

  if (blocked() && M > cfg.gather_max_m) return forward_blocks(x, ldx, M, bias, y, ldy, threads);
  if (M <= cfg.gather_max_m) {
    // One row: gather from x directly (it stays in L1); no packing.
    const std::vector<int> bounds = partition_rows_by_nnz(w_.indptr, threads, 16);
    parallel_for(threads, threads, [&](int part) {
      SpmmKernelArgs a;
      a.indptr = w_.indptr.data();
      a.offsets = w_.indices.data();
      a.values = w_.values.data();
      a.bias = bias;
      a.x = x;
      a.x_mstride = ldx;
      a.y = y;
      a.y_mstride = ldy;
      a.y_nstride = 1;
      if (bounds[part] < bounds[part + 1]) cfg.gather(a, bounds[part], bounds[part + 1], 0, M);
    });
    return;
  }

  auto xt = aligned_floats(size_t(nblocks) * K * mb);
  float* xtp = xt.get();
  // Blocks split along K too when there are fewer blocks than threads (one block at 128 rows).
  const int kchunks = std::max(1, std::min((2 * threads + nblocks - 1) / nblocks, (K + 15) / 16));
  const int kstep = ((K + kchunks - 1) / kchunks + 15) / 16 * 16;
  parallel_for(nblocks * kchunks, threads, [&](int t) {
    const int b = t / kchunks, k0 = t % kchunks * kstep, k1 = std::min(K, k0 + kstep);
    if (k0 < k1)
      cfg.pack_xt(x + size_t(b) * mb * ldx + k0, ldx, std::min(mb, M - b * mb), k1 - k0, mb,
                  xtp + (size_t(b) * K + k0) * mb);
  });

  const std::vector<int> bounds = partition_rows_by_nnz(w_.indptr, threads, 16);
  parallel_for(nblocks * threads, threads, [&](int t) {
    const int b = t / threads, part = t % threads;
    const int n0 = bounds[part], n1 = bounds[part + 1];
    if (n0 >= n1) return;
    SpmmKernelArgs a;
    a.indptr = w_.indptr.data();
    a.offsets = offsets_.data();
    a.values = w_.values.data();
    a.bias = bias;
    a.x = xtp + size_t(b) * K * mb;
    a.y = y + size_t(b) * mb * ldy;
    a.ldy = ldy;
    cfg.rm(a, n0, n1, 0, std::min(mb, M - b * mb));
  });
}

}  // namespace nnslim
