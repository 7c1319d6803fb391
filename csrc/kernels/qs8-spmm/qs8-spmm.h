// Per-ISA block-sparse int8 kernels ("4x1" blocks, nnslim/qs8_spmm.h). A kernel call computes the
// block rows [b0, b1) of one tile of activation rows [m0, m0 + MB):
//   acc(n, m) = sum over the groups of n's block row, over the group's blocks i, of
//               x(m, cols[g * group + i]) * weight(n, block)
// reading activations packed for that ISA (AVX2: s16 [Kq][16]; VNNI: u8 = s8 ^ 0x80, [Kq][64]; the
// scalar kernel reads the quantized rows as they are), then stores the 4 x MB tile through the same
// epilogue as the dense GEMM (int32, or fp32 acc * (a_scale * w_scale) + bias with optional ReLU).
#pragma once
#include <cstddef>
#include <cstdint>

#include "nnslim/qs8_spmm.h"

namespace nnslim {

// Raw pointers only: ISA files must not instantiate std:: templates (see .ci/check_isa_symbols.py).
struct Qs8SpmmTile {
  int N = 0;                       // output rows
  const int64_t* gptr = nullptr;   // Qs8Bsr4Packed's arrays
  const int32_t* cols = nullptr;
  const int32_t* wts = nullptr;
  const int32_t* comp = nullptr;
  const void* x = nullptr;     // packed activations of this tile (scalar: quantized rows, stride ldx)
  size_t ldx = 0;              // scalar only
  int m0 = 0, mvalid = 0;      // absolute first row of the tile, rows in it (<= the ISA's MB)
  const float* a_scale = nullptr;  // per row, absolute index; readable up to m0 + MB (padded)
  const float* w_scale = nullptr;
  const float* bias = nullptr;     // may be null
  bool relu = false;
  float* Cf = nullptr;         // fp32 output, or
  int32_t* C32 = nullptr;      // int32 output (exactly one is set)
  size_t ldc = 0;
};

using Qs8SpmmKernel = void (*)(const Qs8SpmmTile& t, int b0, int b1);
// dst = the tile's rows [0, rows) of q (row stride ldq, columns [0, Kq) readable, zero beyond K)
// in the ISA's packed layout; rows beyond `rows` are written as zero activations.
using Qs8SpmmPackX = void (*)(const int8_t* q, size_t ldq, int rows, int Kq, void* dst);

#define NNSLIM_DECLARE_QS8_SPMM(isa)                                               \
  void nnslim_qs8_spmm_4x1__##isa(const Qs8SpmmTile& t, int b0, int b1);         \
  void nnslim_qs8_spmm_pack_x__##isa(const int8_t* q, size_t ldq, int rows, int Kq, void* dst);
// AVX2 few-row kernel: reads quantized rows directly (t.x, t.ldx), any mvalid.
void nnslim_qs8_spmm_4x1_rows__avx2(const Qs8SpmmTile& t, int b0, int b1);

NNSLIM_DECLARE_QS8_SPMM(scalar)
NNSLIM_DECLARE_QS8_SPMM(avx2)
NNSLIM_DECLARE_QS8_SPMM(avx512vnni)
#undef NNSLIM_DECLARE_QS8_SPMM

struct Qs8SpmmConfig {
  Isa isa;
  int group;          // blocks per group in the packed weights
  int mb;             // activation rows per tile
  int x_elem_bytes;   // bytes per packed activation (0: the scalar kernel reads q directly)
  Qs8SpmmKernel kernel;
  Qs8SpmmPackX pack_x;
  Qs8SpmmKernel rows_kernel;  // for calls of at most rows_max rows: reads q directly (null: none)
  int rows_max;
};

const Qs8SpmmConfig& qs8_spmm_config(Isa isa);  // scalar, avx2 or avx512vnni

// Scalar store of a 4 x MB tile held as acc[r * mb + i] (row n0 + r, activation row m0 + i).
void qs8_spmm_store_tile_scalar(const Qs8SpmmTile& t, int n0, const int32_t* acc, int mb);

}  // namespace nnslim
