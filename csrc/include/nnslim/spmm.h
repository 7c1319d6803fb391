// fp32 sparse x dense products on CSR weights: the sparse linear layer Y = X W^T + b and the sparse
// 2-D convolution (groups = 1). Weights are converted once; the kernels vectorise over the dense
// dimension (rows of X, or output pixels), so unstructured sparsity turns into skipped work.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "nnslim/hw.h"

namespace nnslim {

// Canonical CSR of a rows x cols matrix: indptr[0] = 0, non-decreasing, indptr[rows] = nnz; column
// indices strictly increasing within a row (so no duplicates) and in [0, cols).
struct Csr {
  int rows = 0, cols = 0;
  std::vector<int64_t> indptr;
  std::vector<int32_t> indices;
  std::vector<float> values;
  int64_t nnz() const { return int64_t(indices.size()); }
};

// Nonzeros of a dense row-major matrix (row stride ldw). Exact zeros (+0 and -0) are dropped;
// NaN and Inf are kept, so the sparse layer propagates them like the dense one.
Csr csr_from_dense(const float* w, int rows, int cols, size_t ldw);

// Copies arrays that come from outside (a state_dict, a user) after checking every invariant above.
// Throws std::invalid_argument whose message starts with the offending argument's name
// ("indptr: ...", "indices: ...", "values: ...").
Csr csr_from_arrays(int rows, int cols, const int64_t* indptr, int64_t indptr_len, const int32_t* indices,
                    int64_t indices_len, const float* values, int64_t values_len);

// Rows [n0, n1) of a partition of [0, rows) into `parts` contiguous ranges of near-equal work, where
// a row costs its nonzeros plus a fixed overhead. Boundaries are rounded to multiples of `align`.
std::vector<int> partition_rows_by_nnz(const std::vector<int64_t>& indptr, int parts, int align);

// ---- sparse linear: Y[M, N] = X[M, K] W[N, K]^T + bias -------------------------------------------

// How the sparse linear layer stores W for its kernels: CSR, or "4x1" blocks (4 consecutive output
// rows x 1 input column; one x load feeds 4 FMAs). `automatic` picks blocks when at least 40% of
// the blocks' slots hold a nonzero (4x1 block pruning, or unstructured up to ~65%), else CSR.
// Inputs of one row always take the CSR gather kernel.
enum class SpmmFormat : int { automatic = 0, csr = 1, blocks4x1 = 2 };

class F32SparseLinear {
 public:
  F32SparseLinear(Csr w, Isa isa, SpmmFormat format = SpmmFormat::automatic);
  // X row stride ldx, Y row stride ldy; bias may be null. Safe to call from several threads at once.
  void forward(const float* x, size_t ldx, int M, const float* bias, float* y, size_t ldy,
               int num_threads) const;
  const Csr& csr() const { return w_; }
  Isa isa() const { return isa_; }
  bool blocked() const { return !bptr_.empty(); }

 private:
  void forward_blocks(const float* x, size_t ldx, int M, const float* bias, float* y, size_t ldy,
                      int threads) const;
  Csr w_;
  Isa isa_;
  int mb_;                       // rows of X per packed block (the kernel's register tile)
  std::vector<int32_t> offsets_; // per nonzero: column index * mb_, its row in a packed X block
  // 4x1 block form (empty unless chosen): per block row, per block (column), 4 values per block.
  std::vector<int64_t> bptr_;
  std::vector<int32_t> bcols_;
  std::vector<float> bvals_;
};

// ---- sparse convolution ----------------------------------------------------------------------

struct Conv2dGeometry {
  int in_channels = 0, out_channels = 0;
  int kh = 1, kw = 1;
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int dilation_h = 1, dilation_w = 1;
  // Throws std::invalid_argument naming the field when a value is out of range.
  void validate() const;
  // Output size for an H x W input; throws std::invalid_argument when the kernel does not fit.
  void output_size(int H, int W, int* Ho, int* Wo) const;
};

// Weight (out_channels, in_channels, kh, kw) as CSR over (out_channels, in_channels * kh * kw);
// column c = (ci * kh + i) * kw + j.
class F32SparseConv2d {
 public:
  F32SparseConv2d(Csr w, const Conv2dGeometry& g, Isa isa);
  // x: (batch, in_channels, H, W) contiguous; y: (batch, out_channels, Ho, Wo) contiguous.
  void forward(const float* x, int batch, int H, int W, const float* bias, float* y, int num_threads) const;
  const Csr& csr() const { return w_; }
  const Conv2dGeometry& geometry() const { return g_; }
  Isa isa() const { return isa_; }
  // 1x1, stride 1, no padding: a plain SpMM over each image, no input copy.
  bool is_pointwise() const;

 private:
  struct Plan;  // input-size-dependent layout: phase planes and per-nonzero input offsets
  std::shared_ptr<const Plan> plan_for(int H, int W) const;

  Csr w_;
  Conv2dGeometry g_;
  Isa isa_;
  mutable std::mutex plan_mu_;
  mutable std::shared_ptr<const Plan> plan_;  // last input size seen
};

// ---- references: naive loops that define the semantics ------------------------------------------
// Each output is acc = bias (or 0), then acc += value * input over the row's nonzeros in CSR order,
// in fp32. The SIMD paths use FMA and reassociate, so they agree within a few ulps of sum |w x|.
namespace ref {

void f32_spmm(const Csr& w, const float* x, size_t ldx, int M, const float* bias, float* y, size_t ldy);

void f32_spconv2d(const Csr& w, const Conv2dGeometry& g, const float* x, int batch, int H, int W,
                  const float* bias, float* y);

}  // namespace ref
}  // namespace nnslim
