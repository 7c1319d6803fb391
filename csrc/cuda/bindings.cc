// nnslim._cuda: thin pybind11 layer over nnslim_cuda.h. Pointers are Python ints (tensor.data_ptr()),
// the stream is torch.cuda.current_stream().cuda_stream. No CUDA call happens at import time, so the
// module imports on machines without a GPU or driver. All argument checks run before any launch;
// launches are asynchronous, so the GIL is released only around them.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "nnslim_cuda.h"

namespace py = pybind11;
using namespace nnslim::cuda;

namespace {

py::dict device_info_dict(const DeviceInfo& d) {
  py::dict out;
  out["cc_major"] = d.cc_major;
  out["cc_minor"] = d.cc_minor;
  out["num_sms"] = d.num_sms;
  out["max_smem_optin"] = d.max_smem_optin;
  return out;
}

GemmArgs gemm_args(uintptr_t a, uintptr_t b, uintptr_t c, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                   int64_t ldc, int out_dtype, uintptr_t a_scale, uintptr_t b_scale, uintptr_t bias, bool relu) {
  GemmArgs g;
  g.A = a;
  g.B = b;
  g.C = c;
  g.M = M;
  g.N = N;
  g.K = K;
  g.lda = lda;
  g.ldb = ldb;
  g.ldc = ldc;
  g.out = static_cast<OutType>(out_dtype);
  g.a_scale = a_scale;
  g.b_scale = b_scale;
  g.bias = bias;
  g.relu = relu;
  return g;
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "nnslim CUDA kernels (int8 mma.sync GEMM, per-row quantization, CSR SpMM); raw device pointers";

  m.attr("MAX_EXACT_K") = kMaxExactK;
  m.attr("MMA_K_ALIGN") = kMmaKAlign;
  m.attr("OUT_INT32") = int(OutType::s32);
  m.attr("OUT_FLOAT32") = int(OutType::f32);
  m.attr("OUT_FLOAT16") = int(OutType::f16);
  m.attr("OUT_BFLOAT16") = int(OutType::bf16);
  m.attr("IN_FLOAT32") = int(InType::f32);
  m.attr("IN_FLOAT16") = int(InType::f16);
  m.attr("IN_BFLOAT16") = int(InType::bf16);

  m.def("device_count", &device_count, "number of CUDA devices; 0 without a driver or GPU (never raises)");
  m.def("driver_version", &driver_version, "CUDA driver version (e.g. 12040), 0 without a driver");
  m.def("runtime_version", &runtime_version, "CUDA runtime version nnslim was built with (static runtime)");
  m.def("device_info", [](int device) { return device_info_dict(device_info(device)); }, py::arg("device"));

  m.def(
      "gemm_plan",
      [](int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, uintptr_t a, uintptr_t b, int cc_major,
         int cc_minor, int num_sms, int max_smem_optin, const std::string& kernel) {
        GemmArgs g = gemm_args(a, b, /*c=*/256, M, N, K, lda, ldb, N, int(OutType::s32), 0, 0, 0, false);
        DeviceInfo d;
        d.cc_major = cc_major;
        d.cc_minor = cc_minor;
        d.num_sms = num_sms;
        d.max_smem_optin = max_smem_optin;
        return std::string(gemm_kernel_name(plan_gemm(g, d, parse_gemm_kernel(kernel))));
      },
      py::arg("M"), py::arg("N"), py::arg("K"), py::arg("lda"), py::arg("ldb"), py::arg("a_ptr") = 256,
      py::arg("b_ptr") = 256, py::arg("cc_major") = 9, py::arg("cc_minor") = 0, py::arg("num_sms") = 132,
      py::arg("max_smem_optin") = 232448, py::arg("kernel") = "auto",
      "which GEMM kernel would serve this problem on a device like this (no GPU needed)");

  m.def(
      "qs8_gemm",
      [](uintptr_t a, uintptr_t b, uintptr_t c, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc,
         int out_dtype, uintptr_t a_scale, uintptr_t b_scale, uintptr_t bias, bool relu, uintptr_t stream, int device,
         const std::string& kernel) {
        const GemmArgs g = gemm_args(a, b, c, M, N, K, lda, ldb, ldc, out_dtype, a_scale, b_scale, bias, relu);
        validate_gemm(g);
        const GemmKernel requested = parse_gemm_kernel(kernel);
        GemmKernel used;
        {
          py::gil_scoped_release nogil;
          used = qs8_gemm(g, device, stream, requested);
        }
        return std::string(gemm_kernel_name(used));
      },
      py::arg("a"), py::arg("b"), py::arg("c"), py::arg("M"), py::arg("N"), py::arg("K"), py::arg("lda"),
      py::arg("ldb"), py::arg("ldc"), py::arg("out_dtype"), py::arg("a_scale") = 0, py::arg("b_scale") = 0,
      py::arg("bias") = 0, py::arg("relu") = false, py::arg("stream") = 0, py::arg("device") = -1,
      py::arg("kernel") = "auto",
      "C = epilogue(A[M,K] int8 . B[N,K]^T int8); returns the kernel used. Pointers are device addresses.");

  m.def(
      "qs8_quantize_rows",
      [](uintptr_t x, uintptr_t q, uintptr_t scales, int64_t M, int64_t K, int64_t Kp, int64_t ldx, int64_t ldq,
         int in_dtype, uintptr_t stream, int device) {
        QuantArgs a;
        a.X = x;
        a.Q = q;
        a.scales = scales;
        a.M = M;
        a.K = K;
        a.Kp = Kp;
        a.ldx = ldx;
        a.ldq = ldq;
        a.in = static_cast<InType>(in_dtype);
        validate_quant(a);
        const bool vec = quant_vectorized(a);
        {
          py::gil_scoped_release nogil;
          qs8_quantize_rows(a, device, stream);
        }
        return vec;
      },
      py::arg("x"), py::arg("q"), py::arg("scales"), py::arg("M"), py::arg("K"), py::arg("Kp"), py::arg("ldx"),
      py::arg("ldq"), py::arg("in_dtype"), py::arg("stream") = 0, py::arg("device") = -1,
      "per-row symmetric int8 quantization (nnslim ref semantics); returns whether 16-byte loads were used");

  auto spmm_args = [](uintptr_t indptr, uintptr_t indices, uintptr_t values, uintptr_t row_order, int64_t N,
                      int64_t K, int64_t nnz, uintptr_t xt, int64_t ldx, int64_t M, uintptr_t bias, uintptr_t yt,
                      int64_t ldy) {
    SpmmArgs a;
    a.indptr = indptr;
    a.indices = indices;
    a.values = values;
    a.row_order = row_order;
    a.N = N;
    a.K = K;
    a.nnz = nnz;
    a.Xt = xt;
    a.ldx = ldx;
    a.M = M;
    a.bias = bias;
    a.Yt = yt;
    a.ldy = ldy;
    return a;
  };
  auto plan_tuple = [](const SpmmPlan& p) { return py::make_tuple(p.vec, p.lanes); };

  m.def(
      "spmm_plan",
      [=](int64_t M, int64_t ldx, int64_t ldy, uintptr_t xt, uintptr_t yt) {
        SpmmArgs a = spmm_args(256, 256, 256, 0, 1, 1, 1, xt, ldx, M, 0, yt, ldy);
        return plan_tuple(plan_spmm(a));
      },
      py::arg("M"), py::arg("ldx"), py::arg("ldy"), py::arg("xt_ptr") = 256, py::arg("yt_ptr") = 256,
      "(floats per load, lanes per column group) the SpMM kernel would use (no GPU needed)");

  m.def(
      "f32_spmm_csr",
      [=](uintptr_t indptr, uintptr_t indices, uintptr_t values, uintptr_t row_order, int64_t N, int64_t K,
          int64_t nnz, uintptr_t xt, int64_t ldx, int64_t M, uintptr_t bias, uintptr_t yt, int64_t ldy,
          uintptr_t stream, int device) {
        const SpmmArgs a = spmm_args(indptr, indices, values, row_order, N, K, nnz, xt, ldx, M, bias, yt, ldy);
        validate_spmm(a);
        SpmmPlan p;
        {
          py::gil_scoped_release nogil;
          p = f32_spmm_csr(a, device, stream);
        }
        return plan_tuple(p);
      },
      py::arg("indptr"), py::arg("indices"), py::arg("values"), py::arg("row_order"), py::arg("N"), py::arg("K"),
      py::arg("nnz"), py::arg("xt"), py::arg("ldx"), py::arg("M"), py::arg("bias"), py::arg("yt"), py::arg("ldy"),
      py::arg("stream") = 0, py::arg("device") = -1,
      "Yt[N, M] = W[N, K] (CSR) . Xt[K, M] + bias; returns (floats per load, lanes per column group)");
}
