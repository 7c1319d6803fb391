// Per-ISA fp32 block-sparse kernels for weights in "4x1" blocks (4 consecutive output rows x 1
// input column). A block's one x vector feeds 4 FMAs (one per row), where the CSR kernels load x
// once per nonzero: a quarter of the operand traffic, which is what limits the CSR kernel on CPUs
// whose L2 feeds less than one 32/64-byte load per FMA. A call computes block rows [b0, b1) for
// one tile of activation rows [m0, m0 + mvalid), from X packed as [K][MB] (pack_xt of f32-spmm):
//   y[m, 4b + r] = bias[4b + r] + sum_p values[4p + r] * x[m, cols[p]],  p in [bptr[b], bptr[b + 1])
#pragma once
#include <cstddef>
#include <cstdint>

#include "nnslim/hw.h"

namespace nnslim {

struct BspmmArgs {
  const int64_t* bptr = nullptr;  // per block row
  const int32_t* cols = nullptr;  // per block
  const float* values = nullptr;  // 4 per block, rows >= N are 0
  const float* bias = nullptr;    // may be null
  int N = 0;
  const float* xt = nullptr;      // this tile, [K][MB], lanes beyond mvalid readable (any value)
  int m0 = 0, mvalid = 0;
  float* y = nullptr;
  size_t ldy = 0;
};

using BspmmKernel = void (*)(const BspmmArgs& a, int b0, int b1);

#define NNSLIM_DECLARE_F32_BSPMM(isa) void nnslim_f32_bspmm_4x1__##isa(const BspmmArgs& a, int b0, int b1);
NNSLIM_DECLARE_F32_BSPMM(scalar)
NNSLIM_DECLARE_F32_BSPMM(avx2)
NNSLIM_DECLARE_F32_BSPMM(avx512)
#undef NNSLIM_DECLARE_F32_BSPMM

struct F32BspmmConfig {
  Isa isa;
  int mb;  // activation rows per tile (a multiple of 16, as pack_xt wants)
  BspmmKernel kernel;
};

const F32BspmmConfig& f32_bspmm_config(Isa isa);

// Stores a tile's rows held as tmp[i][4] (activation row m0 + i, output rows n0..n0+3), clipped to N.
inline void f32_bspmm_store_rows(const BspmmArgs& a, int n0, const float (*tmp)[4]) {
  const int nvalid = a.N - n0 < 4 ? a.N - n0 : 4;
  for (int i = 0; i < a.mvalid; ++i)
    for (int r = 0; r < nvalid; ++r) a.y[size_t(a.m0 + i) * a.ldy + n0 + r] = tmp[i][r];
}

}  // namespace nnslim
