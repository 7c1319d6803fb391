// Weight-only 4-bit linear layers: y = dequant(W) . x with W stored as 4-bit codes (two per byte)
// that a per-layer 16-entry table maps to int8 values, and fp32 scales per (output row, K group).
// Activations are quantized per row to int8 at run time (ref::qs8_quantize_row), so every group's
// dot product is exact in int32 and only the group scales and the row scale are float.
//
//   linear int4:  table = [-8, -7, ..., 7]               (code = q + 8)
//   log2 (power of two): table = [64, 32, ..., 1, 0, -64, ..., -1, 0]  (code = sign << 3 | exponent)
//
// Portable code layout (what state_dicts hold): codes[n, k / 2], low nibble = even k, high nibble
// = odd k, row stride ldc >= ceil(K / 2) bytes. Scales: [N, G] float, G = ceil(K / group_size);
// the last group may be partial (the missing columns count as zero).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "nnslim/hw.h"

namespace nnslim {

// The plain linear int4 table: the one the kernels serve without a lookup (codes are the
// unsigned operand as they are, value + 8).
constexpr int8_t kQ4LinearTable[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};

// Group sizes must be multiples of this (the widest kernel step along K per group) and at most
// kQ4MaxGroup, which keeps every group sum far inside int32 (4096 * 127 * 128 < 2^31).
constexpr int kQ4GroupQuantum = 32;
constexpr int kQ4MaxGroup = 4096;

// Weights packed for one ISA; the layout is private to that ISA's kernel.
struct PackedQ4 {
  Isa isa = Isa::scalar;  // the kernel that runs (AMX requests get the AVX-512 VNNI kernel)
  int N = 0, K = 0;
  int group = 0, G = 0;   // group size, number of groups
  int Kp = 0;             // G * group: activations are zero-padded to this length
  int8_t table[16] = {};
  bool linear_table = false;  // table == kQ4LinearTable: the kernels skip the lookup
  int code_offset = 0;        // the kernel's unsigned weight operand is value + code_offset, so the
                              // driver hands it code_offset * (group sums of A) to subtract
  int nr = 1;                 // columns per panel
  int num_panels = 0;
  size_t bytes_per_panel = 0;
  std::vector<uint8_t> storage;  // over-allocated for 64-byte alignment
  uint8_t* data = nullptr;
};

// Validates and packs codes [N, ceil(K/2)] (row stride ldc) and scales [N, G] for `isa`.
// Throws std::invalid_argument for bad sizes or group sizes.
std::unique_ptr<PackedQ4> q4_pack_weights(const uint8_t* codes, size_t ldc, const float* scales, int N, int K,
                                          int group, const int8_t table[16], Isa isa);

// Y[M, N] (ldy) = q4 linear of X[M, K] (ldx), with optional bias[N]. Per output element:
//   q, a_scale = qs8_quantize_row(x)                (zero beyond K)
//   acc = 0.f;  for g: acc = acc + float(sum_{k in g} q[k] * table[code[n, k]]) * scale[n, g]
//   y = acc * a_scale + bias[n]
void q4_linear_f32(const float* X, size_t ldx, int M, const PackedQ4& B, const float* bias, float* Y, size_t ldy,
                   int num_threads);

// The integer part alone: C[m, n, g] = sum_{k in group g} A[m, k] * table[code[n, k]], for int8 A
// [M, K] (lda) with values in [-127, 127] (what the quantizer produces; -128 is not supported).
void q4_gemm_group_s32(const int8_t* A, size_t lda, int M, const PackedQ4& B, int32_t* C, int num_threads);

namespace ref {

// Naive definitions of the two functions above, on the portable layout.
void q4_gemm_group_s32(const int8_t* A, size_t lda, int M, const uint8_t* codes, size_t ldc, int N, int K,
                       int group, const int8_t table[16], int32_t* C);
void q4_linear_f32(const float* X, size_t ldx, int M, const uint8_t* codes, size_t ldc, const float* scales,
                   int N, int K, int group, const int8_t table[16], const float* bias, float* Y, size_t ldy);

}  // namespace ref
}  // namespace nnslim
