// Block-sparse int8 linear layer: Y[M, N] = dequant(quant(X)[M, K] . W[N, K]^T) + bias, with W
// stored as "4x1" blocks: 4 consecutive output rows by 1 input column. Only blocks holding a
// nonzero are stored and multiplied, so the work is proportional to the nonzero blocks. Any sparse
// weight has this form (a block with one nonzero stores three zeros); block pruning ("4x1") makes
// it dense in blocks. Integer results are exact and identical on every ISA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "nnslim/hw.h"

namespace nnslim {

constexpr int kBlockRows = 4;  // rows per block

// Portable (saved) form, block-CSR over block rows: block row b covers output rows 4b..4b+3.
//   indptr[nbr + 1] (nbr = ceil(rows / 4)): indptr[0] = 0, non-decreasing, indptr[nbr] = nblocks;
//   indices[nblocks]: column of each block, strictly increasing within a block row, in [0, cols);
//   values[nblocks * 4]: the block's 4 weights, rows 4b..4b+3 (rows >= `rows` hold 0).
struct Qs8Bsr4 {
  int rows = 0, cols = 0;
  std::vector<int64_t> indptr;
  std::vector<int32_t> indices;
  std::vector<int8_t> values;
  int block_rows() const { return int((int64_t(rows) + kBlockRows - 1) / kBlockRows); }
  int64_t nblocks() const { return int64_t(indices.size()); }
};

// Blocks of a dense row-major int8 matrix that hold at least one nonzero.
Qs8Bsr4 qs8_bsr4_from_dense(const int8_t* w, int rows, int cols);

// Copies arrays that come from outside after checking every invariant above; throws
// std::invalid_argument whose message starts with the offending array's name.
Qs8Bsr4 qs8_bsr4_from_arrays(int rows, int cols, const int64_t* indptr, int64_t indptr_len, const int32_t* indices,
                             int64_t indices_len, const int8_t* values, int64_t values_len);

// Weights packed for one ISA's kernel: blocks of a block row are taken in groups of `group`
// (1 scalar, 2 AVX2, 4 AVX-512 VNNI); a short last group is padded with zero-weight blocks.
struct Qs8Bsr4Packed {
  Isa isa = Isa::scalar;
  int N = 0, K = 0, Kq = 0;     // Kq: K rounded up to 16, the packed activations' row count
  int group = 1;
  std::vector<int64_t> gptr;    // per block row: first group (nbr + 1 entries)
  std::vector<int32_t> cols;    // group columns per group
  std::vector<int32_t> wts;     // 4 per group: row r's weights of the group's blocks, packed in one int32
  std::vector<int32_t> comp;    // per output row (4 * nbr): what a u8-flipped operand adds (VNNI), else 0
};

class Qs8SparseLinear {
 public:
  // isa: the requested path; AMX runs the VNNI kernel, and VNNI is used only after its start-up
  // check against the reference passed (else AVX2).
  Qs8SparseLinear(Qs8Bsr4 w, Isa isa);
  // Dynamic per-row activation quantization (the dense Int8Linear's quantizer) or, when
  // `static_scale` > 0, static q = clamp(rne(x / s) + zp); the zero point's contribution must be
  // folded into `bias` by the caller. fp32 epilogue as the dense layer's: acc * (a_scale * w_scale) + bias.
  void forward_f32(const float* x, size_t ldx, int M, float static_scale, int32_t zero_point,
                   const float* w_scale, const float* bias, bool relu, float* y, size_t ldy, int num_threads) const;
  // C[M, N] = A[M, K] . W^T in int32 (A int8 row-major, row stride lda).
  void forward_s32(const int8_t* A, size_t lda, int M, int32_t* C, size_t ldc, int num_threads) const;
  const Qs8Bsr4& bsr() const { return w_; }
  Isa isa() const { return packed_.isa; }
  // The few-row kernel (AVX2: no packing; used for 1-row calls by default): `always` / `never` force
  // either path, for tests and benchmarks. Paths without one always use tiles.
  enum class RowKernel { automatic, always, never };
  void set_row_kernel(RowKernel mode) { row_kernel_ = mode; }

 private:
  void run(const int8_t* q, size_t ldq, int M, const float* a_scale, const float* w_scale, const float* bias,
           bool relu, float* y, int32_t* c32, size_t ldc, int num_threads) const;
  Qs8Bsr4 w_;
  Qs8Bsr4Packed packed_;
  RowKernel row_kernel_ = RowKernel::automatic;
};

// The kernel path a requested ISA runs (see the constructor); `note` says why when it differs.
Isa qs8_spmm_isa(Isa requested, std::string* note);

namespace ref {
// C[m, n] = sum over the blocks of n's block row of A[m, col] * value, exact (int64, returned as int32).
void qs8_bsr4_spmm_s32(const Qs8Bsr4& w, const int8_t* A, size_t lda, int M, int32_t* C, size_t ldc);
}  // namespace ref

}  // namespace nnslim
