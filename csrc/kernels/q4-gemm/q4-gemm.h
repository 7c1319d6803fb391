// Per-ISA q4 kernels: each ISA file defines its pack function and its driver for a task (rows
// [m0, m1), panels [p0, p1)); dispatch/q4-gemm-config.cc picks one set for the whole call.
#pragma once
#include "nnslim/q4.h"

namespace nnslim {

// One call's operands. A is int8 [M, B->Kp] (zero beyond K). Exactly one output: Y (fp32) or C32
// (int32 group sums [M, N, G]).
struct Q4Problem {
  int M = 0;
  const int8_t* A = nullptr;
  size_t lda = 0;
  const int32_t* comp = nullptr;  // [M, G]: code_offset * group sums of A; null when code_offset == 0
  const PackedQ4* B = nullptr;
  float* Y = nullptr;
  size_t ldy = 0;
  const float* a_scale = nullptr;
  const float* bias = nullptr;  // may be null
  int32_t* C32 = nullptr;
};

#define NNSLIM_DECLARE_Q4_GEMM(isa)                                                        \
  void nnslim_q4_gemm_pack__##isa(const uint8_t* codes, size_t ldc, const float* scales,   \
                                  PackedQ4* out);                                          \
  void nnslim_q4_gemm__##isa(const Q4Problem& p, int m0, int m1, int p0, int p1);
NNSLIM_DECLARE_Q4_GEMM(scalar)
NNSLIM_DECLARE_Q4_GEMM(avx2)
NNSLIM_DECLARE_Q4_GEMM(avx512vnni)
#undef NNSLIM_DECLARE_Q4_GEMM

// Header helpers are static: ISA files and baseline files both include this header, and a shared
// inline copy compiled with AVX-512 flags could be the one the linker keeps for the baseline path.

// The code of weight (n, k) in the portable layout.
static inline int q4_code_at(const uint8_t* codes, size_t ldc, int n, int k) {
  return (codes[size_t(n) * ldc + k / 2] >> (4 * (k & 1))) & 0xF;
}

// Sets nr / num_panels / bytes_per_panel and allocates zeroed, 64-byte aligned storage.
void q4_alloc_panels(PackedQ4* out, int nr, size_t bytes_per_panel);

// The SIMD layout, per panel of nr columns and per group: group/4 blocks of 2*nr bytes, byte
// (c * 4 + i) holding k = 4 * block + i of column c in its low nibble and of column c + nr/2 in its
// high nibble (so one AND and one shift give two registers of 4-k dot-product quads); then nr fp32
// scales of the group. Columns beyond N and k beyond K get code 0 and scale 0.
void q4_pack_quad_panels(const uint8_t* codes, size_t ldc, const float* scales, PackedQ4* out, int nr);
static inline size_t q4_quad_group_bytes(int group, int nr) { return size_t(group) / 4 * 2 * nr + size_t(nr) * 4; }

// Writes the group sums of rows [m, m + rows) for columns [n0, n0 + nvalid) of group g from
// acc[r * stride + j] (already compensated).
void q4_store_group_s32(const Q4Problem& p, int m, int rows, int n0, int nvalid, int g, const int32_t* acc,
                        int stride);

}  // namespace nnslim
