// Per-ISA int8 GEMM kernels. Each ISA file defines its pack function and its blocked GEMM driver
// for a task (rows [m0, m1), panels [p0, p1)); dispatch/ picks one set for the whole call.
#pragma once
#include "nnslim/gemm.h"

namespace nnslim {

#define NNSLIM_DECLARE_QS8_GEMM(isa)                                                  \
  void nnslim_qs8_gemm_pack__##isa(const int8_t* B, int N, int K, PackedB* out);     \
  void nnslim_qs8_gemm__##isa(const GemmProblem& p, int m0, int m1, int p0, int p1);
NNSLIM_DECLARE_QS8_GEMM(scalar)
NNSLIM_DECLARE_QS8_GEMM(avx2)
NNSLIM_DECLARE_QS8_GEMM(avx512vnni)
NNSLIM_DECLARE_QS8_GEMM(amx)
#undef NNSLIM_DECLARE_QS8_GEMM

// Weight (n, k) read back from an ISA's packed layout (the Winograd path transforms the weights
// again from them).
int8_t nnslim_qs8_gemm_weight__scalar(const PackedB& B, int n, int k);
int8_t nnslim_qs8_gemm_weight__avx2(const PackedB& B, int n, int k);

// AMX direct convolution of a run of virtual rows (Qs8GemmConfig::conv_direct_row, DirectConvRow).
void nnslim_qs8_conv_direct_row__amx(const GemmProblem& p, const DirectConvRow& row, int p0, int p1);

// Row sums with vpsadbw (64 bytes per instruction); same result as qs8_row_sums.
void nnslim_qs8_row_sums__avx512vnni(const int8_t* A, size_t lda, int M, int k0, int k1, int32_t* out);

// Allocates out->storage for num_panels * bytes_per_panel bytes, 64-byte aligned and zeroed.
void qs8_alloc_panels(PackedB* out, int N, int K, int Kp, int nr, size_t bytes_per_panel);

// Packs B into panels of `nr` columns, 4-way K interleave: panel[k / 4][n % nr][k % 4], each byte
// XOR `flip` (0x80 turns s8 into the u8 that vpdpbusd's unsigned operand wants).
void qs8_pack_k4_panels(const int8_t* B, int N, int K, PackedB* out, uint8_t flip);
// out->colsum = sum_k B[n, k] per column (GemmProblem::a_zero_point's compensation). Baseline code:
// an ISA file that filled the vector itself would emit std::vector members the linker may share
// with baseline callers.
void qs8_column_sums(const int8_t* B, int N, int K, PackedB* out);

// Scalar epilogue of one tile row: acc[0..nvalid) for output row m, columns n0..n0+nvalid.
void qs8_store_row_scalar(const GemmProblem& p, int m, int n0, int nvalid, const int32_t* acc);

}  // namespace nnslim
