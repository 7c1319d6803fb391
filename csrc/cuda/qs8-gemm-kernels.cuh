// Internal interface between the GEMM planner (qs8-gemm.cu) and the kernel files.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "qs8-epilogue.cuh"

namespace nnslim {
namespace cuda {

struct GemmProblem {
  const int8_t* A;
  const int8_t* B;
  int M, N, K;
  int64_t lda, ldb;
  int m_tile_base;  // grid.y is capped at 65535: large M is covered by several launches
  EpilogueParams epi;
};

// Tile shapes, kept here so the planner (host code) knows their shared-memory needs.
// mma_128x128: 8 warps as 2 x 4, warp tile 64 x 32, 128 bytes of K per stage, 3 stages.
constexpr int kMmaBigBM = 128, kMmaBigBN = 128, kMmaBigStages = 3;
constexpr int kMmaBigSmem = kMmaBigStages * (kMmaBigBM + kMmaBigBN) * 128;
// mma_32x32: for few rows (decode-style M), many small blocks keep every SM streaming weights; its
// 4 warps split each 128-byte K stage between them (sliced K) and reduce through shared memory.
constexpr int kMmaSmallBM = 32, kMmaSmallBN = 32, kMmaSmallStages = 6;
constexpr int kMmaSmallSmem = kMmaSmallStages * (kMmaSmallBM + kMmaSmallBN) * 128;
constexpr int kDp4aTile = 64;

void launch_qs8_gemm_mma_128x128(const GemmProblem& p, int device, cudaStream_t stream);
void launch_qs8_gemm_mma_32x32(const GemmProblem& p, int device, cudaStream_t stream);
void launch_qs8_gemm_dp4a(const GemmProblem& p, int device, cudaStream_t stream);

}  // namespace cuda
}  // namespace nnslim
