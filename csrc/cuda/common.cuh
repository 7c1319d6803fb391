// Shared device helpers and host-side launch plumbing for the .cu files.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "nnslim_cuda.h"

namespace nnslim {
namespace cuda {

inline void throw_if_error(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    // Clear a non-sticky error so it does not resurface in an unrelated later call.
    cudaGetLastError();
    throw std::runtime_error(std::string("nnslim CUDA: ") + what + ": " + cudaGetErrorName(e) + " (" +
                             cudaGetErrorString(e) + ")");
  }
}

// Makes `device` current for the launch and restores the caller's device afterwards, so a call for
// cuda:1 from a thread whose current device is cuda:0 neither launches on the wrong GPU nor leaves
// the thread switched.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    throw_if_error(cudaGetDevice(&prev_), "cudaGetDevice");
    if (device >= 0 && device != prev_) {
      throw_if_error(cudaSetDevice(device), "cudaSetDevice");
      switched_ = true;
    }
    current_ = switched_ ? device : prev_;
  }
  ~DeviceGuard() {
    if (switched_) cudaSetDevice(prev_);
  }
  int device() const { return current_; }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0, current_ = 0;
  bool switched_ = false;
};

// Once per (kernel, device): checks the binary holds code for this GPU (else a message that says how
// to rebuild) and opts into `smem_bytes` of dynamic shared memory when that exceeds the 48 KiB default.
void prepare_kernel(const void* kernel, const char* name, int device, int smem_bytes);
// Raises the launch error (bad configuration, missing image) right after a launch.
void check_launch(const char* name);

inline cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

// ---- device helpers --------------------------------------------------------------------------

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte global->shared copy that bypasses L1; src_bytes = 0 zero-fills the destination without
// reading (the source address must still be a valid pointer value, it is not dereferenced).
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

}  // namespace cuda
}  // namespace nnslim
