// The sparse linear layer: X is transposed block by block (mr rows at a time) so that every
// nonzero's operand is a contiguous run, then rows of W (split between threads by nonzero count)
// sweep each block with the row-major kernel.
#include <algorithm>
#include <limits>
#include <memory>
#include <stdexcept>

#include "../kernels/f32-spmm/f32-spmm.h"
#include "nnslim/gemm.h"
#include "nnslim/spmm.h"

namespace nnslim {

namespace {

// Below ~4M multiply-add lanes (~80 us on one core) a second thread costs more than it saves: waking
// a pool worker measured 20-30 us here, and the worker may land on the caller's core.
constexpr int64_t kMinParallelWork = int64_t(1) << 22;

}  // namespace

F32SparseLinear::F32SparseLinear(Csr w, Isa isa) : w_(std::move(w)), isa_(isa) {
  require_isa(isa);
  mb_ = f32_spmm_config(isa).mr;
  if (int64_t(w_.cols) * mb_ > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("weight: in_features " + std::to_string(w_.cols) + " is too large");
  offsets_.resize(w_.indices.size());
  for (size_t p = 0; p < offsets_.size(); ++p) offsets_[p] = w_.indices[p] * mb_;
}

void F32SparseLinear::forward(const float* x, size_t ldx, int M, const float* bias, float* y, size_t ldy,
                              int num_threads) const {
  if (M <= 0 || w_.rows == 0) return;
  const F32SpmmConfig& cfg = f32_spmm_config(isa_);
  const int K = w_.cols, mb = mb_;
  const int nblocks = (M + mb - 1) / mb;
  const int64_t work = (w_.nnz() + 4 * int64_t(w_.rows)) * M;
  const int threads = work < kMinParallelWork ? 1 : std::max(1, num_threads);

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
