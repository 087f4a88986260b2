// CUDA device query (see device_info.h). The runtime is linked statically, so
// this runs on machines without a driver and reports that as an error string.
#include "cuda/device_info.h"

#include <cuda_runtime_api.h>

namespace jepa::cuda {

namespace {

std::string describe(cudaError_t status, const char* call) {
  return std::string(call) + " failed: " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")";
}

}  // namespace

DeviceInfo deviceInfo() noexcept {
  DeviceInfo info;
  try {
    cudaRuntimeGetVersion(&info.runtimeVersion);
    if (cudaDriverGetVersion(&info.driverVersion) != cudaSuccess) info.driverVersion = 0;
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      info.error = describe(status, "cudaGetDeviceCount");
      cudaGetLastError();  // reset the last-error state so later CUDA calls start clean
      return info;
    }
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp prop;
      status = cudaGetDeviceProperties(&prop, i);
      if (status != cudaSuccess) {
        info.error = describe(status, "cudaGetDeviceProperties");
        cudaGetLastError();
        continue;
      }
      DeviceProperties d;
      d.index = i;
      d.name = prop.name;
      d.computeMajor = prop.major;
      d.computeMinor = prop.minor;
      d.totalMemory_bytes = static_cast<std::uint64_t>(prop.totalGlobalMem);
      d.multiprocessorCount = prop.multiProcessorCount;
      info.devices.push_back(std::move(d));
    }
  } catch (...) {
    info.error = "CUDA device query failed: out of memory while collecting device properties";
  }
  return info;
}

}  // namespace jepa::cuda
