// Runtime plumbing: device queries that degrade to 0 without a driver, per-device kernel
// preparation, launch error reporting.
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "common.cuh"
#include "qs8-gemm-kernels.cuh"

namespace nnslim {
namespace cuda {

int device_count() {
  int n = 0;
  // No driver / no device is an answer (0), not an error; the error is cleared so it cannot leak
  // into a later call.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

int driver_version() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return v;
}

int runtime_version() {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return v;
}

DeviceInfo device_info(int device) {
  static std::mutex mu;
  static std::map<int, DeviceInfo> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(device);
  if (it != cache.end()) return it->second;
  DeviceInfo d;
  throw_if_error(cudaDeviceGetAttribute(&d.cc_major, cudaDevAttrComputeCapabilityMajor, device),
                 "querying the compute capability");
  throw_if_error(cudaDeviceGetAttribute(&d.cc_minor, cudaDevAttrComputeCapabilityMinor, device),
                 "querying the compute capability");
  throw_if_error(cudaDeviceGetAttribute(&d.num_sms, cudaDevAttrMultiProcessorCount, device),
                 "querying the SM count");
  throw_if_error(cudaDeviceGetAttribute(&d.max_smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
                 "querying the shared memory size");
  cache[device] = d;
  return d;
}

void prepare_kernel(const void* kernel, const char* name, int device, int smem_bytes) {
  static std::mutex mu;
  static std::set<std::pair<const void*, int>> done;
  std::lock_guard<std::mutex> lock(mu);
  if (done.count({kernel, device})) return;
  cudaFuncAttributes attr;
  const cudaError_t e = cudaFuncGetAttributes(&attr, kernel);
  if (e == cudaErrorInvalidDeviceFunction || e == cudaErrorNoKernelImageForDevice) {
    cudaGetLastError();
    DeviceInfo d = device_info(device);
    throw std::runtime_error(std::string("nnslim CUDA: ") + name + " has no code for this GPU (sm_" +
                             std::to_string(d.cc_major) + std::to_string(d.cc_minor) +
                             "); rebuild nnslim with NNSLIM_CUDA_ARCHITECTURES including " +
                             std::to_string(d.cc_major) + std::to_string(d.cc_minor));
  }
  throw_if_error(e, (std::string("preparing ") + name).c_str());
  if (smem_bytes > 48 * 1024)
    throw_if_error(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes),
                   (std::string("opting ") + name + " into " + std::to_string(smem_bytes) +
                    " bytes of shared memory").c_str());
  done.insert({kernel, device});
}

void check_launch(const char* name) {
  throw_if_error(cudaGetLastError(), (std::string("launching ") + name).c_str());
}

}  // namespace cuda
}  // namespace nnslim
