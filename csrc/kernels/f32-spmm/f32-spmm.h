// Per-ISA fp32 CSR kernels. One kernel shape serves the linear layer and every convolution: output
// row n (an output feature or channel) over a range [m0, m1) of the dense dimension is
//     y(n, m) = bias[n] + sum_p values[p] * x[offsets[p] + m],  p in [indptr[n], indptr[n + 1])
// where offsets[p] already locates the nonzero's input row (and, for convolutions, its tap shift),
// so the inner loop is one broadcast and a few contiguous vector FMAs per nonzero. The variants
// differ only in where y(n, m) is stored.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "nnslim/hw.h"

namespace nnslim {

struct SpmmKernelArgs {
  const int64_t* indptr = nullptr;
  const int32_t* offsets = nullptr;
  const float* values = nullptr;
  const float* bias = nullptr;  // may be null
  const float* x = nullptr;     // readable at offsets[p] + m for every m in the kernel's range
  float* y = nullptr;
  size_t ldy = 0;
  // Output grid of a convolution: m = oh * grid_ws + ow, stored at y[n * ldy + oh * grid_wo + ow]
  // only when ow < grid_wo (the columns beyond are the row padding the flat layout computes through).
  int grid_ws = 0, grid_wo = 0;
  // Gather kernel only: x[m * x_mstride + offsets[p]] and y[m * y_mstride + n * y_nstride].
  size_t x_mstride = 0, y_mstride = 0, y_nstride = 0;
};

// Rows [n0, n1), dense range [m0, m1).
using SpmmKernel = void (*)(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1);

// dst[k * mb + i] = x[i * ldx + k] for i < rows <= mb: a block of X transposed so each nonzero's
// operand is contiguous. Lanes from rows to the next multiple of 16 may be written (zeros), the rest
// are left alone: the kernels mask their loads at the end of the range. mb is a multiple of 16.
using PackXtFn = void (*)(const float* x, size_t ldx, int rows, int K, int mb, float* dst);

#define NNSLIM_DECLARE_F32_SPMM(isa)                                                             \
  void nnslim_f32_spmm_cm__##isa(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1);      \
  void nnslim_f32_spmm_rm__##isa(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1);      \
  void nnslim_f32_spconv_grid__##isa(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1);  \
  void nnslim_f32_spmm_gather__##isa(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1);  \
  void nnslim_f32_pack_xt__##isa(const float* x, size_t ldx, int rows, int K, int mb, float* dst);
NNSLIM_DECLARE_F32_SPMM(scalar)
NNSLIM_DECLARE_F32_SPMM(avx2)
NNSLIM_DECLARE_F32_SPMM(avx512)
#undef NNSLIM_DECLARE_F32_SPMM

// Everything one ISA contributes, chosen together.
struct F32SpmmConfig {
  Isa isa;
  const char* kernel;  // "f32-spmm scalar|avx2|avx512"
  int mr;              // dense-dimension tile of the kernels: packed X blocks hold this many rows
  PackXtFn pack_xt;
  SpmmKernel cm;    // y[n * ldy + m]            (channel-major: 1x1 convolutions)
  SpmmKernel rm;    // y[m * ldy + n]            (row-major: the linear layer), rows in groups of 16
  SpmmKernel grid;  // convolution output grid, see SpmmKernelArgs
  // A single dense position (one token, a 1x1 feature map): vectorise over each row's nonzeros
  // instead, gathering x, which then stays in L1 (1.4x the 1-row tile on Zen 5; from 2 rows on the
  // tile wins). Used for M <= gather_max_m.
  SpmmKernel gather;
  int gather_max_m;
};

const F32SpmmConfig& f32_spmm_config(Isa isa);

// Scratch for packed operands: 64-byte aligned so the kernels' spills and full-vector stores stay
// on cache lines.
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float, FreeDeleter>;

inline AlignedFloats aligned_floats(size_t n) {
  const size_t bytes = ((n ? n : 1) * sizeof(float) + 63) / 64 * 64;
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  return AlignedFloats(p);
}

}  // namespace nnslim
