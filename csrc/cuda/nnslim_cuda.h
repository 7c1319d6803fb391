// The C++ face of nnslim's CUDA kernels. Plain C++ (no CUDA or pybind types) so the binding is
// compiled by the host compiler and the planning functions can be unit-tested on a machine with no
// GPU. Buffers are raw device pointers (torch's data_ptr()) and the stream is torch's cudaStream_t.
//
// Every launcher validates its arguments BEFORE touching the runtime: a bad argument raises
// std::invalid_argument (ValueError in Python) and no kernel runs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace nnslim {
namespace cuda {

// Same limit as the CPU kernels (nnslim/gemm.h): the exact s8 x s8 dot product fits int32.
constexpr int64_t kMaxExactK = 131071;
// The tensor-core path loads 16-byte chunks of K: K, the row strides and the base pointers must be
// multiples of this (callers pad K with zeros, see nnslim/nn/_cuda_ops.py).
constexpr int kMmaKAlign = 16;

enum class OutType : int { s32 = 0, f32 = 1, f16 = 2, bf16 = 3 };
enum class InType : int { f32 = 0, f16 = 1, bf16 = 2 };

enum class GemmKernel : int { automatic = -1, mma_128x128 = 0, mma_32x32 = 1, dp4a = 2 };
const char* gemm_kernel_name(GemmKernel k);
GemmKernel parse_gemm_kernel(const std::string& s);  // throws std::invalid_argument

struct DeviceInfo {
  int cc_major = 0, cc_minor = 0;
  int num_sms = 0;
  int max_smem_optin = 0;  // bytes of dynamic shared memory one block may opt into
};

// C[M, N] = epilogue(A[M, K] . B[N, K]^T), row-major with row strides lda, ldb, ldc (elements).
//   s32:            C = acc
//   f32, f16, bf16: C = acc * (a_scale[m] * b_scale[n]) + bias[n] (bias optional), then ReLU if
//                   relu; computed in fp32 exactly as nnslim::ref::dequant_epilogue, then rounded to
//                   the output type.
struct GemmArgs {
  uintptr_t A = 0, B = 0, C = 0;
  int64_t M = 0, N = 0, K = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  OutType out = OutType::s32;
  uintptr_t a_scale = 0, b_scale = 0, bias = 0;
  bool relu = false;
};

// Argument checks shared by plan and launch. Throws std::invalid_argument naming the argument.
void validate_gemm(const GemmArgs& a);
// Which kernel serves this problem on this device (pure: no CUDA calls). `requested` forces a
// kernel; a forced kernel that cannot serve the problem throws std::invalid_argument.
GemmKernel plan_gemm(const GemmArgs& a, const DeviceInfo& dev, GemmKernel requested = GemmKernel::automatic);
// Validates, plans and launches on `stream` (device < 0: the current device). Returns the kernel used.
GemmKernel qs8_gemm(const GemmArgs& a, int device, uintptr_t stream, GemmKernel requested = GemmKernel::automatic);

// Per-row symmetric quantization with the semantics of nnslim::ref::qs8_quantize_row:
// X[M, K] (row stride ldx, dtype `in`) -> Q[M, Kp] int8 (row stride ldq, columns K..Kp zeroed) and
// scales[M] fp32.
struct QuantArgs {
  uintptr_t X = 0, Q = 0, scales = 0;
  int64_t M = 0, K = 0, Kp = 0;
  int64_t ldx = 0, ldq = 0;
  InType in = InType::f32;
};
void validate_quant(const QuantArgs& a);
bool quant_vectorized(const QuantArgs& a);  // 16-byte loads of X and matching stores of Q
void qs8_quantize_rows(const QuantArgs& a, int device, uintptr_t stream);

// Y^T = W . X^T for a CSR matrix W[N, K] (int32 indptr[N + 1], indices[nnz], fp32 values[nnz]) and
// dense activations given TRANSPOSED: Xt[K, M] fp32 (row stride ldx). Writes Yt[N, M] (row stride
// ldy) = W . Xt + bias[n] (bias optional). `row_order` (optional, a permutation of 0..N-1) says in
// which order warps take rows; rows sorted by decreasing nnz balance the blocks (Sputnik's row
// swizzle). Out-of-range indptr entries or column indices are skipped, never dereferenced.
struct SpmmArgs {
  uintptr_t indptr = 0, indices = 0, values = 0, row_order = 0;
  int64_t N = 0, K = 0, nnz = 0;
  uintptr_t Xt = 0, Yt = 0, bias = 0;
  int64_t M = 0, ldx = 0, ldy = 0;
};
struct SpmmPlan {
  int vec = 1;    // floats per lane per load (1 or 4)
  int lanes = 1;  // lanes sharing one sparse row's column tile; 32 / lanes nonzeros run in parallel
};
void validate_spmm(const SpmmArgs& a);
SpmmPlan plan_spmm(const SpmmArgs& a);
SpmmPlan f32_spmm_csr(const SpmmArgs& a, int device, uintptr_t stream);

// Runtime queries that never throw: 0 / -1 when there is no driver or device.
int device_count();
int driver_version();
int runtime_version();
DeviceInfo device_info(int device);  // throws std::runtime_error when the device cannot be queried

}  // namespace cuda
}  // namespace nnslim
