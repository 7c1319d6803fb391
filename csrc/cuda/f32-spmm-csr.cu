// CSR SpMM for sparse weights: Yt[N, M] = W[N, K] . Xt[K, M] + bias, W in CSR, fp32.
//
// Sputnik's scheme (Gale et al., SC'20), adapted to one kernel for every M:
//  - one warp per sparse row, taken in `row_order` (rows sorted by nnz, so the warps of a block finish
//    together: the row swizzle);
//  - the warp's 32 lanes form 32 / L groups of L lanes; a group owns L * V consecutive output columns
//    (V = 4: float4 loads of Xt rows), and the groups take different nonzeros of the row in parallel,
//    summed by shuffles at the end. Large M uses L = 32 (one group, 128 columns per pass); M = 1 uses
//    L = 1 (32 nonzeros in flight), so short rows and decode-sized M still keep every lane busy;
//  - indices and values are read once per 32 nonzeros, coalesced, and handed out with shuffles.
// The caller passes X transposed (Xt) so that the columns a group needs are contiguous.
#include <climits>
#include <stdexcept>
#include <string>

#include "common.cuh"

namespace nnslim {
namespace cuda {
namespace {

constexpr int kWarps = 4;
constexpr unsigned kFull = 0xffffffffu;

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument(msg); }

struct SpmmKernelArgs {
  const int* indptr;
  const int* indices;
  const float* values;
  const int* row_order;
  int N, K, nnz;
  const float* Xt;
  int64_t ldx;
  int M;
  const float* bias;
  float* Yt;
  int64_t ldy;
  int log2_lanes;
  int m_tiles;
};

template <int V>
__global__ void __launch_bounds__(kWarps * 32) f32_spmm_csr_kernel(const SpmmKernelArgs p) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t wrow = int64_t(blockIdx.x) * kWarps + warp;
  if (wrow >= p.N) return;  // whole warps leave; no block-wide barrier follows
  const int n = p.row_order ? p.row_order[wrow] : int(wrow);
  if (unsigned(n) >= unsigned(p.N)) return;  // not a permutation: skip rather than read out of range
  const int start = max(p.indptr[n], 0);
  const int end = min(p.indptr[n + 1], p.nnz);
  const int L = 1 << p.log2_lanes, G = 32 >> p.log2_lanes;
  const int l = lane & (L - 1), g = lane >> p.log2_lanes;
  const float b = p.bias ? p.bias[n] : 0.f;

  for (int mt = blockIdx.y; mt < p.m_tiles; mt += gridDim.y) {
    const int m = mt * (L * V) + l * V;
    const bool active = m < p.M;  // M % V == 0 when V > 1, so all V columns are in range
    float acc[V];
#pragma unroll
    for (int e = 0; e < V; ++e) acc[e] = 0.f;

    for (int j0 = start; j0 < end; j0 += 32) {
      const int j = j0 + lane;
      int idx = -1;
      float val = 0.f;
      if (j < end) {
        idx = __ldg(p.indices + j);
        val = __ldg(p.values + j);
      }
      const int cnt = min(32, end - j0);
      const int steps = (cnt + G - 1) / G;  // warp-uniform: every lane takes part in the shuffles
#pragma unroll 4
      for (int s = 0; s < steps; ++s) {
        const int src = s * G + g;
        const int k = __shfl_sync(kFull, idx, src);
        const float v = __shfl_sync(kFull, val, src);
        if (active && src < cnt && unsigned(k) < unsigned(p.K)) {
          const float* xr = p.Xt + int64_t(k) * p.ldx + m;
          if constexpr (V == 4) {
            const float4 x = __ldg(reinterpret_cast<const float4*>(xr));
            acc[0] = fmaf(v, x.x, acc[0]);
            acc[1] = fmaf(v, x.y, acc[1]);
            acc[2] = fmaf(v, x.z, acc[2]);
            acc[3] = fmaf(v, x.w, acc[3]);
          } else {
            acc[0] = fmaf(v, __ldg(xr), acc[0]);
          }
        }
      }
    }
    // Lanes with the same l in different groups hold partial sums of the same columns.
    for (int o = L; o < 32; o <<= 1)
#pragma unroll
      for (int e = 0; e < V; ++e) acc[e] += __shfl_xor_sync(kFull, acc[e], o);
    if (g == 0 && active) {
      float* y = p.Yt + int64_t(n) * p.ldy + m;
      if constexpr (V == 4) {
        *reinterpret_cast<float4*>(y) = make_float4(acc[0] + b, acc[1] + b, acc[2] + b, acc[3] + b);
      } else {
        y[0] = acc[0] + b;
      }
    }
  }
}

template <int V>
void launch(const SpmmKernelArgs& k, int device, cudaStream_t stream, const char* name) {
  auto fn = &f32_spmm_csr_kernel<V>;
  prepare_kernel(reinterpret_cast<const void*>(fn), name, device, 0);
  const unsigned rows_blocks = unsigned((int64_t(k.N) + kWarps - 1) / kWarps);
  const dim3 grid(rows_blocks, unsigned(k.m_tiles < 65535 ? k.m_tiles : 65535));
  fn<<<grid, kWarps * 32, 0, stream>>>(k);
  check_launch(name);
}

void check_dim(int64_t v, const char* name) {
  if (v < 0) bad(std::string(name) + ": expected >= 0, got " + std::to_string(v));
  if (v > INT_MAX) bad(std::string(name) + ": " + std::to_string(v) + " exceeds 2^31 - 1");
}

void check_ptr(uintptr_t p, const char* name, bool required) {
  if (p == 0) {
    if (required) bad(std::string(name) + ": null device pointer");
    return;
  }
  if (p % 4) bad(std::string(name) + ": pointer must be 4-byte aligned");
}

}  // namespace

void validate_spmm(const SpmmArgs& a) {
  check_dim(a.N, "N");
  check_dim(a.K, "K");
  check_dim(a.M, "M");
  check_dim(a.nnz, "nnz");
  check_ptr(a.indptr, "indptr", a.N > 0);
  check_ptr(a.indices, "indices", a.nnz > 0);
  check_ptr(a.values, "values", a.nnz > 0);
  check_ptr(a.row_order, "row_order", false);
  check_ptr(a.bias, "bias", false);
  if (a.M == 0 || a.N == 0) return;
  check_ptr(a.Yt, "Yt", true);
  if (a.ldy < a.M) bad("ldy: expected >= M (" + std::to_string(a.M) + "), got " + std::to_string(a.ldy));
  if (a.K > 0 && a.nnz > 0) {
    check_ptr(a.Xt, "Xt", true);
    if (a.ldx < a.M) bad("ldx: expected >= M (" + std::to_string(a.M) + "), got " + std::to_string(a.ldx));
  }
}

SpmmPlan plan_spmm(const SpmmArgs& a) {
  validate_spmm(a);
  SpmmPlan p;
  const bool vec4 = a.M % 4 == 0 && a.ldx % 4 == 0 && a.ldy % 4 == 0 && a.Xt % 16 == 0 && a.Yt % 16 == 0;
  p.vec = vec4 ? 4 : 1;
  const int64_t cols = (a.M + p.vec - 1) / p.vec;
  p.lanes = 1;
  while (p.lanes < 32 && p.lanes < cols) p.lanes *= 2;
  return p;
}

SpmmPlan f32_spmm_csr(const SpmmArgs& a, int device, uintptr_t stream) {
  const SpmmPlan plan = plan_spmm(a);
  if (a.M == 0 || a.N == 0) return plan;
  DeviceGuard guard(device);
  SpmmKernelArgs k{};
  k.indptr = reinterpret_cast<const int*>(a.indptr);
  k.indices = reinterpret_cast<const int*>(a.indices);
  k.values = reinterpret_cast<const float*>(a.values);
  k.row_order = reinterpret_cast<const int*>(a.row_order);
  k.N = int(a.N);
  k.K = int(a.K);
  k.nnz = int(a.nnz);
  k.Xt = reinterpret_cast<const float*>(a.Xt);
  k.ldx = a.ldx;
  k.M = int(a.M);
  k.bias = reinterpret_cast<const float*>(a.bias);
  k.Yt = reinterpret_cast<float*>(a.Yt);
  k.ldy = a.ldy;
  int log2 = 0;
  while ((1 << log2) < plan.lanes) ++log2;
  k.log2_lanes = log2;
  const int64_t tile = int64_t(plan.lanes) * plan.vec;
  k.m_tiles = int((a.M + tile - 1) / tile);
  if (plan.vec == 4)
    launch<4>(k, guard.device(), as_stream(stream), "f32_spmm_csr_v4");
  else
    launch<1>(k, guard.device(), as_stream(stream), "f32_spmm_csr_v1");
  return plan;
}

}  // namespace cuda
}  // namespace nnslim
