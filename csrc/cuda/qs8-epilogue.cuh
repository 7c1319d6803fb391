// The fused epilogue shared by the int8 GEMM kernels. The output type is a runtime switch (uniform
// across the grid, so it costs no divergence) rather than a template parameter: one instantiation
// per tile shape keeps the build short.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "nnslim_cuda.h"

namespace nnslim {
namespace cuda {

struct EpilogueParams {
  void* C;
  int64_t ldc;
  int M, N;
  int out;  // OutType
  const float* a_scale;
  const float* b_scale;
  const float* bias;  // may be null
  bool relu;
  bool pair_vec;  // C and ldc allow storing two adjacent columns as one vector
};

// nnslim::ref::dequant_epilogue, operation for operation. The _rn intrinsics forbid FMA contraction,
// so results equal the CPU kernels bit for bit.
__device__ __forceinline__ float dequant(int32_t acc, float as, float bs, float bias, bool relu) {
  const float y = __fadd_rn(__fmul_rn(__int2float_rn(acc), __fmul_rn(as, bs)), bias);
  return (relu && y < 0.f) ? 0.f : y;
}

__device__ __forceinline__ float epi_value(const EpilogueParams& p, int m, int n, int32_t acc) {
  const float bias = p.bias ? p.bias[n] : 0.f;
  return dequant(acc, p.a_scale[m], p.b_scale[n], bias, p.relu);
}

__device__ __forceinline__ void store_one(const EpilogueParams& p, int m, int n, int32_t acc) {
  const int64_t off = int64_t(m) * p.ldc + n;
  switch (p.out) {
    case int(OutType::s32): static_cast<int32_t*>(p.C)[off] = acc; break;
    case int(OutType::f32): static_cast<float*>(p.C)[off] = epi_value(p, m, n, acc); break;
    case int(OutType::f16): static_cast<__half*>(p.C)[off] = __float2half_rn(epi_value(p, m, n, acc)); break;
    default: static_cast<__nv_bfloat16*>(p.C)[off] = __float2bfloat16_rn(epi_value(p, m, n, acc)); break;
  }
}

// Columns n and n + 1 of row m (n even in the mma fragments). Out-of-range parts are dropped.
__device__ __forceinline__ void store_pair(const EpilogueParams& p, int m, int n, int32_t a0, int32_t a1) {
  if (m >= p.M || n >= p.N) return;
  if (!(p.pair_vec && n + 1 < p.N)) {
    store_one(p, m, n, a0);
    if (n + 1 < p.N) store_one(p, m, n + 1, a1);
    return;
  }
  const int64_t off = int64_t(m) * p.ldc + n;
  switch (p.out) {
    case int(OutType::s32):
      *reinterpret_cast<int2*>(static_cast<int32_t*>(p.C) + off) = make_int2(a0, a1);
      break;
    case int(OutType::f32):
      *reinterpret_cast<float2*>(static_cast<float*>(p.C) + off) =
          make_float2(epi_value(p, m, n, a0), epi_value(p, m, n + 1, a1));
      break;
    case int(OutType::f16):
      *reinterpret_cast<__half2*>(static_cast<__half*>(p.C) + off) =
          __halves2half2(__float2half_rn(epi_value(p, m, n, a0)), __float2half_rn(epi_value(p, m, n + 1, a1)));
      break;
    default:
      *reinterpret_cast<__nv_bfloat162*>(static_cast<__nv_bfloat16*>(p.C) + off) = __halves2bfloat162(
          __float2bfloat16_rn(epi_value(p, m, n, a0)), __float2bfloat16_rn(epi_value(p, m, n + 1, a1)));
      break;
  }
}

}  // namespace cuda
}  // namespace nnslim
