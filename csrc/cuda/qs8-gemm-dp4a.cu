// int8 GEMM with dp4a (sm_61+): the fallback for shapes and pointers the tensor-core kernels cannot
// take (K, a row stride or a base pointer not a multiple of 16 bytes) and for GPUs before sm_80.
// Any K and any alignment: bytes are gathered into 32-bit words as they are staged in shared memory.
#include "common.cuh"
#include "qs8-gemm-kernels.cuh"

namespace nnslim {
namespace cuda {
namespace {

constexpr int T = kDp4aTile;  // 64 x 64 outputs per block, 4 x 4 per thread
constexpr int KW = 16;        // 32-bit words of K per stage (64 values)

__device__ __forceinline__ uint32_t load_word(const int8_t* row, int gk, int K) {
  const int8_t* src = row + gk;
  if (gk + 3 < K && (reinterpret_cast<uintptr_t>(src) & 3) == 0) return *reinterpret_cast<const uint32_t*>(src);
  uint32_t w = 0;
#pragma unroll
  for (int b = 0; b < 4; ++b)
    if (gk + b < K) w |= uint32_t(uint8_t(src[b])) << (8 * b);
  return w;
}

__global__ void __launch_bounds__(256) qs8_gemm_dp4a_kernel(const GemmProblem p) {
  // +1 word of padding per row: the 16 threads reading 16 different B rows hit 16 different banks.
  __shared__ uint32_t sA[T][KW + 1];
  __shared__ uint32_t sB[T][KW + 1];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int m0 = (blockIdx.y + p.m_tile_base) * T, n0 = blockIdx.x * T;
  int32_t acc[4][4] = {};

  for (int k0 = 0; k0 < p.K; k0 += KW * 4) {
#pragma unroll
    for (int i = 0; i < T * KW / 256; ++i) {
      const int e = tid + i * 256, r = e / KW, kw = e % KW;
      const int gk = k0 + kw * 4;
      const int gm = m0 + r, gn = n0 + r;
      sA[r][kw] = (gm < p.M && gk < p.K) ? load_word(p.A + int64_t(gm) * p.lda, gk, p.K) : 0u;
      sB[r][kw] = (gn < p.N && gk < p.K) ? load_word(p.B + int64_t(gn) * p.ldb, gk, p.K) : 0u;
    }
    __syncthreads();
#pragma unroll
    for (int kw = 0; kw < KW; ++kw) {
      int a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = int(sA[ty + 16 * i][kw]);
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = int(sB[tx + 16 * j][kw]);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = __dp4a(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty + 16 * i;
    if (m >= p.M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + tx + 16 * j;
      if (n < p.N) store_one(p.epi, m, n, acc[i][j]);
    }
  }
}

}  // namespace

void launch_qs8_gemm_dp4a(const GemmProblem& p0, int device, cudaStream_t stream) {
  const char* name = "qs8_gemm_dp4a";
  prepare_kernel(reinterpret_cast<const void*>(&qs8_gemm_dp4a_kernel), name, device, 0);
  const int ntiles = (p0.N + T - 1) / T;
  const int mtiles = (p0.M + T - 1) / T;
  for (int base = 0; base < mtiles; base += 65535) {
    GemmProblem p = p0;
    p.m_tile_base = base;
    const dim3 grid(ntiles, mtiles - base < 65535 ? mtiles - base : 65535);
    qs8_gemm_dp4a_kernel<<<grid, 256, 0, stream>>>(p);
    check_launch(name);
  }
}

}  // namespace cuda
}  // namespace nnslim
