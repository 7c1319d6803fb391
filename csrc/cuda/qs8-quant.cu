// Per-row dynamic activation quantization (fp32 / fp16 / bf16 -> int8 + fp32 scale), bit-identical to
// nnslim::ref::qs8_quantize_row: one block per row, amax by block reduction, then a second pass over
// the (now L2-resident) row to round. fp16 / bf16 widen to fp32 exactly, so quantizing them here
// equals converting to fp32 first and quantizing on the CPU.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>
#include <climits>
#include <stdexcept>
#include <string>
#include <utility>

#include "common.cuh"

namespace nnslim {
namespace cuda {
namespace {

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument(msg); }

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

__device__ __forceinline__ uint32_t quant1(float x, float inv) {
  int v = __float2int_rn(__fmul_rn(x, inv));  // |x * inv| <= 127 (+ rounding): no int overflow
  v = v > 127 ? 127 : (v < -127 ? -127 : v);
  return uint32_t(uint8_t(int8_t(v)));
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <typename T>
__global__ void qs8_quant_rows_kernel(const T* __restrict__ X, int64_t ldx, int K, int Kp, int8_t* __restrict__ Q,
                                      int64_t ldq, float* __restrict__ S, bool vec) {
  constexpr int V = 16 / sizeof(T);  // elements per 16-byte load
  const int tid = threadIdx.x, nthreads = blockDim.x;
  const int64_t m = blockIdx.x;
  const T* x = X + m * ldx;
  int8_t* q = Q + m * ldq;
  const int nv = vec ? K / V : 0;  // K % V == 0 when vec

  float amax = 0.f;
  bool finite = true;
  auto see = [&](float v) {
    const float a = fabsf(v);
    finite = finite && (a <= FLT_MAX);  // false for Inf and NaN
    amax = fmaxf(amax, a);
  };
  if (vec) {
    for (int i = tid; i < nv; i += nthreads) {
      const uint4 raw = reinterpret_cast<const uint4*>(x)[i];
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int j = 0; j < V; ++j) see(to_f32(e[j]));
    }
  } else {
    for (int k = tid; k < K; k += nthreads) see(to_f32(x[k]));
  }

  __shared__ float warp_amax[32];
  __shared__ float row_amax;
  amax = warp_max(amax);
  if ((tid & 31) == 0) warp_amax[tid >> 5] = amax;
  const bool all_finite = __syncthreads_and(finite);
  if (tid < 32) {
    float v = tid < (nthreads >> 5) ? warp_amax[tid] : 0.f;
    v = warp_max(v);
    if (tid == 0) row_amax = v;
  }
  __syncthreads();
  amax = row_amax;

  const bool zero = !all_finite || amax < 1e-30f;  // nnslim::ref::kTinyAmax
  if (tid == 0) S[m] = zero ? (all_finite ? 0.f : __int_as_float(0x7fc00000)) : __fdiv_rn(amax, 127.f);
  const float inv = zero ? 0.f : __fdiv_rn(127.f, amax);

  if (vec) {
    for (int i = tid; i < nv; i += nthreads) {
      uint32_t packed[V / 4];
      if (zero) {
#pragma unroll
        for (int w = 0; w < V / 4; ++w) packed[w] = 0;
      } else {
        const uint4 raw = reinterpret_cast<const uint4*>(x)[i];
        const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int w = 0; w < V / 4; ++w)
          packed[w] = quant1(to_f32(e[4 * w]), inv) | (quant1(to_f32(e[4 * w + 1]), inv) << 8) |
                      (quant1(to_f32(e[4 * w + 2]), inv) << 16) | (quant1(to_f32(e[4 * w + 3]), inv) << 24);
      }
      if constexpr (V == 4) {
        reinterpret_cast<uint32_t*>(q)[i] = packed[0];
      } else {
        reinterpret_cast<uint2*>(q)[i] = make_uint2(packed[0], packed[1]);
      }
    }
  } else {
    for (int k = tid; k < K; k += nthreads) q[k] = zero ? int8_t(0) : int8_t(quant1(to_f32(x[k]), inv));
  }
  for (int k = K + tid; k < Kp; k += nthreads) q[k] = 0;
}

int in_size(InType t) { return t == InType::f32 ? 4 : 2; }

template <typename T>
void launch_quant(const QuantArgs& a, int device, cudaStream_t stream, bool vec, const char* name) {
  auto fn = &qs8_quant_rows_kernel<T>;
  prepare_kernel(reinterpret_cast<const void*>(fn), name, device, 0);
  constexpr int V = 16 / sizeof(T);
  const int64_t items = vec ? a.K / V : a.K;
  int threads = 32;
  while (threads < 256 && threads * 4 < items) threads *= 2;
  fn<<<unsigned(a.M), threads, 0, stream>>>(reinterpret_cast<const T*>(a.X), a.ldx, int(a.K), int(a.Kp),
                                            reinterpret_cast<int8_t*>(a.Q), a.ldq, reinterpret_cast<float*>(a.scales),
                                            vec);
  check_launch(name);
}

}  // namespace

void validate_quant(const QuantArgs& a) {
  for (auto [v, name] : {std::pair<int64_t, const char*>{a.M, "M"}, {a.K, "K"}, {a.Kp, "Kp"}}) {
    if (v < 0) bad(std::string(name) + ": expected >= 0, got " + std::to_string(v));
    if (v > INT_MAX) bad(std::string(name) + ": " + std::to_string(v) + " exceeds 2^31 - 1");
  }
  const int in = int(a.in);
  if (in < 0 || in > 2) bad("in_dtype: expected 0 (float32), 1 (float16) or 2 (bfloat16), got " + std::to_string(in));
  if (a.Kp < a.K) bad("Kp: expected >= K (" + std::to_string(a.K) + "), got " + std::to_string(a.Kp));
  if (a.M == 0) return;
  if (a.ldx < a.K) bad("ldx: expected >= K (" + std::to_string(a.K) + "), got " + std::to_string(a.ldx));
  if (a.ldq < a.Kp) bad("ldq: expected >= Kp (" + std::to_string(a.Kp) + "), got " + std::to_string(a.ldq));
  if (a.scales == 0) bad("scales: null device pointer");
  if (a.scales % 4) bad("scales: pointer must be 4-byte aligned");
  if (a.K > 0) {
    if (a.X == 0) bad("X: null device pointer");
    if (a.X % in_size(a.in)) bad("X: pointer must be " + std::to_string(in_size(a.in)) + "-byte aligned");
  }
  if (a.Kp > 0 && a.Q == 0) bad("Q: null device pointer");
}

bool quant_vectorized(const QuantArgs& a) {
  const int V = 16 / in_size(a.in);
  return a.X % 16 == 0 && a.ldx % V == 0 && a.K % V == 0 && a.Q % V == 0 && a.ldq % V == 0;
}

void qs8_quantize_rows(const QuantArgs& a, int device, uintptr_t stream) {
  validate_quant(a);
  if (a.M == 0) return;
  DeviceGuard guard(device);
  const bool vec = quant_vectorized(a);
  switch (a.in) {
    case InType::f32: launch_quant<float>(a, guard.device(), as_stream(stream), vec, "qs8_quant_rows_f32"); break;
    case InType::f16: launch_quant<__half>(a, guard.device(), as_stream(stream), vec, "qs8_quant_rows_f16"); break;
    default: launch_quant<__nv_bfloat16>(a, guard.device(), as_stream(stream), vec, "qs8_quant_rows_bf16"); break;
  }
}

}  // namespace cuda
}  // namespace nnslim
