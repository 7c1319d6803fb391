// int8 GEMM on tensor cores (sm_80+): C = A[M, K] . B[N, K]^T with mma.sync m16n8k32 s8 x s8 -> s32.
//
// Shared memory holds each tile row as one 128-byte line (128 values of K). Rows are stored with
// their eight 16-byte chunks permuted by chunk ^ (row & 7): the 8 rows one ldmatrix phase reads, and
// the 8 chunks one cp.async phase writes, then fall in 8 distinct bank groups (no conflicts).
// A and B are both K-contiguous, which is exactly the .row.col operand layout of the mma, so
// ldmatrix without .trans produces the fragments directly:
//   A 16x32 tile, ldmatrix.x4: matrices (rows 0-7, k 0-15), (rows 8-15, k 0-15), (rows 0-7, k 16-31),
//     (rows 8-15, k 16-31) -> a0..a3; lane l addresses row (l & 15), k chunk (l >> 4).
//   B two n8 x k32 tiles, ldmatrix.x4: (n 0-7, k 0-15), (n 0-7, k 16-31), (n 8-15, k 0-15),
//     (n 8-15, k 16-31) -> b[0][0], b[0][1], b[1][0], b[1][1]; lane l addresses n ((l >> 4) * 8 +
//     (l & 7)), k chunk ((l >> 3) & 1).
// Loads run STAGES - 1 tiles ahead with cp.async (zero-filling rows past M/N and chunks past K).
#include "common.cuh"
#include "qs8-gemm-kernels.cuh"

// Builds for GPUs before sm_80 compile the kernel bodies away; their helpers are then unused.
#pragma nv_diag_suppress 177

namespace nnslim {
namespace cuda {
namespace {

template <int BM_, int BN_, int WARPS_M_, int WARPS_N_, int WARPS_K_, int STAGES_, int MIN_BLOCKS_>
struct MmaTile {
  static constexpr int BM = BM_, BN = BN_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_, WARPS_K = WARPS_K_;
  static constexpr int STAGES = STAGES_, MIN_BLOCKS = MIN_BLOCKS_;
  static constexpr int BK = 128;  // bytes (= int8 values) of K per stage: one smem line per row
  static constexpr int kThreads = 32 * WARPS_M * WARPS_N * WARPS_K;
  static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;
  static constexpr int MT = WM / 16, NT = WN / 8;
  static constexpr int KSTEPS = BK / 32 / WARPS_K;  // k32 steps per warp per stage
  static constexpr int kStageBytes = (BM + BN) * BK;
  static constexpr int kPipeBytes = STAGES * kStageBytes;
  static constexpr int kRedBytes = WARPS_K > 1 ? WARPS_K * BM * BN * 4 : 0;
  static constexpr int kSmemBytes = kPipeBytes > kRedBytes ? kPipeBytes : kRedBytes;
  static_assert(WM % 16 == 0 && WN % 16 == 0, "B fragments are loaded as pairs of n8 tiles");
  static_assert(KSTEPS >= 1 && BK % (32 * WARPS_K) == 0, "K steps must divide among the K warps");
  static_assert((BM * 8) % kThreads == 0 && (BN * 8) % kThreads == 0, "whole chunks per thread");
  static_assert(BN % 2 == 0, "the reduction stores column pairs");
};

using BigTile = MmaTile<kMmaBigBM, kMmaBigBN, 2, 4, 1, kMmaBigStages, 2>;
using SmallTile = MmaTile<kMmaSmallBM, kMmaSmallBN, 1, 1, 4, kMmaSmallStages, 1>;
static_assert(BigTile::kSmemBytes == kMmaBigSmem, "planner and kernel disagree on shared memory");
static_assert(SmallTile::kSmemBytes == kMmaSmallSmem, "planner and kernel disagree on shared memory");

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void mma_s8(int32_t (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Byte offset of 16-byte chunk `kc` of tile row `r` in the swizzled layout.
__device__ __forceinline__ int swz(int r, int kc) { return r * 128 + ((kc ^ (r & 7)) << 4); }

template <class T>
__global__ void __launch_bounds__(T::kThreads, T::MIN_BLOCKS) qs8_gemm_mma_kernel(const GemmProblem p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  extern __shared__ __align__(128) uint8_t smem[];
  constexpr int BM = T::BM, BN = T::BN, BK = T::BK, STAGES = T::STAGES;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wk = warp / (T::WARPS_M * T::WARPS_N);
  const int wmn = warp % (T::WARPS_M * T::WARPS_N);
  const int wm = wmn / T::WARPS_N, wn = wmn % T::WARPS_N;
  const int m0 = (blockIdx.y + p.m_tile_base) * BM, n0 = blockIdx.x * BN;
  const int M = p.M, N = p.N, K = p.K;

  auto load_stage = [&](int stage, int kt) {
    uint8_t* sA = smem + stage * T::kStageBytes;
    uint8_t* sB = sA + BM * BK;
    const int k0 = kt * BK;
#pragma unroll
    for (int i = 0; i < BM * 8 / T::kThreads; ++i) {
      const int c = tid + i * T::kThreads, r = c >> 3, kc = c & 7;
      const int gm = m0 + r, gk = k0 + kc * 16;
      const bool ok = gm < M && gk < K;
      const int8_t* src = ok ? p.A + int64_t(gm) * p.lda + gk : p.A;
      cp_async_16(smem_u32(sA + swz(r, kc)), src, ok ? 16 : 0);
    }
#pragma unroll
    for (int i = 0; i < BN * 8 / T::kThreads; ++i) {
      const int c = tid + i * T::kThreads, r = c >> 3, kc = c & 7;
      const int gn = n0 + r, gk = k0 + kc * 16;
      const bool ok = gn < N && gk < K;
      const int8_t* src = ok ? p.B + int64_t(gn) * p.ldb + gk : p.B;
      cp_async_16(smem_u32(sB + swz(r, kc)), src, ok ? 16 : 0);
    }
  };

  int32_t acc[T::MT][T::NT][4];
#pragma unroll
  for (int i = 0; i < T::MT; ++i)
#pragma unroll
    for (int j = 0; j < T::NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0;

  const int ktiles = (K + BK - 1) / BK;
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) load_stage(s, s);
    cp_async_commit();  // empty groups keep the wait_group count uniform
  }

  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 2>();  // tile kt has landed (for this thread) ...
    __syncthreads();              // ... for every thread, and stage (kt - 1) % STAGES is free again
    const int next = kt + STAGES - 1;
    if (next < ktiles) load_stage(next % STAGES, next);
    cp_async_commit();

    const uint8_t* sA = smem + (kt % STAGES) * T::kStageBytes;
    const uint8_t* sB = sA + BM * BK;
#pragma unroll
    for (int kk = 0; kk < T::KSTEPS; ++kk) {
      const int ks = wk * T::KSTEPS + kk;  // which 32-byte slice of the 128-byte line
      uint32_t af[T::MT][4];
      uint32_t bf[T::NT][2];
#pragma unroll
      for (int i = 0; i < T::MT; ++i) {
        const int r = wm * T::WM + i * 16 + (lane & 15);
        ldmatrix_x4(af[i], smem_u32(sA + swz(r, 2 * ks + (lane >> 4))));
      }
#pragma unroll
      for (int j = 0; j < T::NT / 2; ++j) {
        const int r = wn * T::WN + j * 16 + ((lane >> 4) << 3) + (lane & 7);
        uint32_t t[4];
        ldmatrix_x4(t, smem_u32(sB + swz(r, 2 * ks + ((lane >> 3) & 1))));
        bf[2 * j][0] = t[0];
        bf[2 * j][1] = t[1];
        bf[2 * j + 1][0] = t[2];
        bf[2 * j + 1][1] = t[3];
      }
#pragma unroll
      for (int i = 0; i < T::MT; ++i)
#pragma unroll
        for (int j = 0; j < T::NT; ++j) mma_s8(acc[i][j], af[i], bf[j][0], bf[j][1]);
    }
  }
  cp_async_wait<0>();

  // Accumulator fragment: c0, c1 at (row g, cols 2t, 2t + 1); c2, c3 at (row g + 8, same cols).
  const int g = lane >> 2, t2 = (lane & 3) * 2;
  if constexpr (T::WARPS_K == 1) {
#pragma unroll
    for (int i = 0; i < T::MT; ++i)
#pragma unroll
      for (int j = 0; j < T::NT; ++j) {
        const int r = m0 + wm * T::WM + i * 16 + g;
        const int c = n0 + wn * T::WN + j * 8 + t2;
        store_pair(p.epi, r, c, acc[i][j][0], acc[i][j][1]);
        store_pair(p.epi, r + 8, c, acc[i][j][2], acc[i][j][3]);
      }
  } else {
    __syncthreads();  // every warp is done with the pipeline buffers before they become the reduction
    int32_t* red = reinterpret_cast<int32_t*>(smem);
#pragma unroll
    for (int i = 0; i < T::MT; ++i)
#pragma unroll
      for (int j = 0; j < T::NT; ++j) {
        const int r = wm * T::WM + i * 16 + g;
        const int c = wn * T::WN + j * 8 + t2;
        int32_t* d = red + (wk * BM + r) * BN + c;
        d[0] = acc[i][j][0];
        d[1] = acc[i][j][1];
        d[8 * BN] = acc[i][j][2];
        d[8 * BN + 1] = acc[i][j][3];
      }
    __syncthreads();
    for (int e = tid * 2; e < BM * BN; e += T::kThreads * 2) {
      int32_t s0 = 0, s1 = 0;
#pragma unroll
      for (int w = 0; w < T::WARPS_K; ++w) {
        s0 += red[w * BM * BN + e];
        s1 += red[w * BM * BN + e + 1];
      }
      store_pair(p.epi, m0 + e / BN, n0 + e % BN, s0, s1);
    }
  }
#else
  __trap();  // the planner never picks this kernel below sm_80
#endif
}

template <class T>
void launch(const GemmProblem& p0, int device, cudaStream_t stream, const char* name) {
  const void* fn = reinterpret_cast<const void*>(&qs8_gemm_mma_kernel<T>);
  prepare_kernel(fn, name, device, T::kSmemBytes);
  const int ntiles = (p0.N + T::BN - 1) / T::BN;
  const int mtiles = (p0.M + T::BM - 1) / T::BM;
  for (int base = 0; base < mtiles; base += 65535) {
    GemmProblem p = p0;
    p.m_tile_base = base;
    const dim3 grid(ntiles, mtiles - base < 65535 ? mtiles - base : 65535);
    qs8_gemm_mma_kernel<T><<<grid, T::kThreads, T::kSmemBytes, stream>>>(p);
    check_launch(name);
  }
}

}  // namespace

void launch_qs8_gemm_mma_128x128(const GemmProblem& p, int device, cudaStream_t stream) {
  launch<BigTile>(p, device, stream, "qs8_gemm_mma_128x128");
}

void launch_qs8_gemm_mma_32x32(const GemmProblem& p, int device, cudaStream_t stream) {
  launch<SmallTile>(p, device, stream, "qs8_gemm_mma_32x32");
}

}  // namespace cuda
}  // namespace nnslim
