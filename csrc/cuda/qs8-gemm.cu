// int8 GEMM: argument checks, kernel choice and launch. Host code only; the kernels live in
// qs8-gemm-mma.cu (tensor cores) and qs8-gemm-dp4a.cu (fallback).
#include <climits>
#include <stdexcept>
#include <string>

#include "common.cuh"
#include "qs8-gemm-kernels.cuh"

namespace nnslim {
namespace cuda {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument(msg); }

int out_size(OutType t) { return (t == OutType::s32 || t == OutType::f32) ? 4 : 2; }

void check_dim(int64_t v, const char* name) {
  if (v < 0) bad(std::string(name) + ": expected >= 0, got " + std::to_string(v));
  if (v > INT_MAX) bad(std::string(name) + ": " + std::to_string(v) + " exceeds 2^31 - 1");
}

void check_ptr(uintptr_t p, const char* name, int align) {
  if (p == 0) bad(std::string(name) + ": null device pointer");
  if (p % align) bad(std::string(name) + ": pointer must be " + std::to_string(align) + "-byte aligned");
}

// Why the tensor-core kernels cannot take this problem, or "" if they can. The shape part needs no
// device, so a forced kernel is refused before any CUDA call.
std::string mma_shape_blocker(const GemmArgs& a) {
  if (a.K % kMmaKAlign) return "needs K % 16 == 0 (K = " + std::to_string(a.K) + ")";
  if (a.lda % kMmaKAlign || a.ldb % kMmaKAlign) return "needs lda and ldb multiples of 16";
  if (a.A % 16 || a.B % 16) return "needs A and B 16-byte aligned";
  return "";
}

std::string mma_blocker(const GemmArgs& a, const DeviceInfo& dev) {
  if (dev.cc_major < 8)
    return "needs sm_80 or newer (this GPU is sm_" + std::to_string(dev.cc_major) + std::to_string(dev.cc_minor) + ")";
  return mma_shape_blocker(a);
}

bool is_mma(GemmKernel k) { return k == GemmKernel::mma_128x128 || k == GemmKernel::mma_32x32; }

}  // namespace

const char* gemm_kernel_name(GemmKernel k) {
  switch (k) {
    case GemmKernel::mma_128x128: return "mma_128x128";
    case GemmKernel::mma_32x32: return "mma_32x32";
    case GemmKernel::dp4a: return "dp4a";
    default: return "auto";
  }
}

GemmKernel parse_gemm_kernel(const std::string& s) {
  for (GemmKernel k : {GemmKernel::automatic, GemmKernel::mma_128x128, GemmKernel::mma_32x32, GemmKernel::dp4a})
    if (s == gemm_kernel_name(k)) return k;
  bad("kernel: '" + s + "' is not one of auto, mma_128x128, mma_32x32, dp4a");
}

void validate_gemm(const GemmArgs& a) {
  check_dim(a.M, "M");
  check_dim(a.N, "N");
  check_dim(a.K, "K");
  if (a.K > kMaxExactK)
    bad("K: " + std::to_string(a.K) + " exceeds " + std::to_string(kMaxExactK) +
        ", the largest K whose int32 accumulation is exact; split K");
  const int out = int(a.out);
  if (out < 0 || out > 3) bad("out_dtype: expected 0 (int32), 1 (float32), 2 (float16) or 3 (bfloat16), got " + std::to_string(out));
  if (a.out == OutType::s32 && (a.bias || a.relu))
    bad("bias and relu need a floating-point output; the int32 output is the raw accumulator");
  if (a.M == 0 || a.N == 0) return;  // nothing is read or written
  if (a.ldc < a.N) bad("ldc: expected >= N (" + std::to_string(a.N) + "), got " + std::to_string(a.ldc));
  check_ptr(a.C, "C", out_size(a.out));
  if (a.K > 0) {
    if (a.lda < a.K) bad("lda: expected >= K (" + std::to_string(a.K) + "), got " + std::to_string(a.lda));
    if (a.ldb < a.K) bad("ldb: expected >= K (" + std::to_string(a.K) + "), got " + std::to_string(a.ldb));
    check_ptr(a.A, "A", 1);
    check_ptr(a.B, "B", 1);
  }
  if (a.out != OutType::s32) {
    check_ptr(a.a_scale, "a_scale", 4);
    check_ptr(a.b_scale, "b_scale", 4);
    if (a.bias) check_ptr(a.bias, "bias", 4);
  }
}

GemmKernel plan_gemm(const GemmArgs& a, const DeviceInfo& dev, GemmKernel requested) {
  validate_gemm(a);
  const std::string blocker = mma_blocker(a, dev);
  if (is_mma(requested)) {
    if (!blocker.empty()) bad(std::string("kernel ") + gemm_kernel_name(requested) + " " + blocker);
    const int need = requested == GemmKernel::mma_128x128 ? kMmaBigSmem : kMmaSmallSmem;
    if (dev.max_smem_optin < need)
      bad(std::string("kernel ") + gemm_kernel_name(requested) + " needs " + std::to_string(need) +
          " bytes of shared memory; this GPU allows " + std::to_string(dev.max_smem_optin));
    return requested;
  }
  if (requested == GemmKernel::dp4a || !blocker.empty() || a.K == 0) {
    if (dev.cc_major < 6 || (dev.cc_major == 6 && dev.cc_minor < 1))
      bad("the int8 GEMM needs sm_61 or newer (dp4a)");
    return GemmKernel::dp4a;
  }
  // Big tiles do 16x the work per loaded byte, but only pay off while there are enough of them to
  // occupy the SMs; decode-sized M gets many small blocks instead.
  const int64_t big_blocks = ((a.M + kMmaBigBM - 1) / kMmaBigBM) * ((a.N + kMmaBigBN - 1) / kMmaBigBN);
  if (big_blocks * 4 >= int64_t(dev.num_sms) * 3 && dev.max_smem_optin >= kMmaBigSmem) return GemmKernel::mma_128x128;
  if (dev.max_smem_optin >= kMmaSmallSmem) return GemmKernel::mma_32x32;
  return GemmKernel::dp4a;
}

GemmKernel qs8_gemm(const GemmArgs& a, int device, uintptr_t stream, GemmKernel requested) {
  validate_gemm(a);
  if (a.M == 0 || a.N == 0) return requested == GemmKernel::automatic ? GemmKernel::dp4a : requested;
  if (is_mma(requested)) {
    const std::string blocker = mma_shape_blocker(a);
    if (!blocker.empty()) bad(std::string("kernel ") + gemm_kernel_name(requested) + " " + blocker);
  }
  DeviceGuard guard(device);
  const GemmKernel k = plan_gemm(a, device_info(guard.device()), requested);

  GemmProblem p{};
  p.A = reinterpret_cast<const int8_t*>(a.A);
  p.B = reinterpret_cast<const int8_t*>(a.B);
  p.M = int(a.M);
  p.N = int(a.N);
  p.K = int(a.K);
  p.lda = a.lda;
  p.ldb = a.ldb;
  p.m_tile_base = 0;
  EpilogueParams& e = p.epi;
  e.C = reinterpret_cast<void*>(a.C);
  e.ldc = a.ldc;
  e.M = p.M;
  e.N = p.N;
  e.out = int(a.out);
  e.a_scale = reinterpret_cast<const float*>(a.a_scale);
  e.b_scale = reinterpret_cast<const float*>(a.b_scale);
  e.bias = reinterpret_cast<const float*>(a.bias);
  e.relu = a.relu;
  e.pair_vec = a.ldc % 2 == 0 && a.C % (2 * out_size(a.out)) == 0;

  switch (k) {
    case GemmKernel::mma_128x128: launch_qs8_gemm_mma_128x128(p, guard.device(), as_stream(stream)); break;
    case GemmKernel::mma_32x32: launch_qs8_gemm_mma_32x32(p, guard.device(), as_stream(stream)); break;
    default: launch_qs8_gemm_dp4a(p, guard.device(), as_stream(stream)); break;
  }
  return k;
}

}  // namespace cuda
}  // namespace nnslim
