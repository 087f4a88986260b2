// CUDA device query: what the CUDA runtime linked into the addon sees. Plain
// C++ so the Node-API binding includes it without CUDA headers; implemented in
// device_info.cu, built only when the addon is configured with CUDA.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace jepa::cuda {

struct DeviceProperties {
  int index = 0;
  std::string name;
  int computeMajor = 0;
  int computeMinor = 0;
  std::uint64_t totalMemory_bytes = 0;
  int multiprocessorCount = 0;
};

struct DeviceInfo {
  // CUDA runtime version the addon was built against, e.g. 13000 for 13.0.
  int runtimeVersion = 0;
  // Highest CUDA version the installed driver supports; 0 when there is no driver.
  int driverVersion = 0;
  std::vector<DeviceProperties> devices;
  // Empty when the query succeeded; otherwise the CUDA error name and text.
  std::string error;
};

// Never throws: a machine without a driver or device yields no devices and an error.
DeviceInfo deviceInfo() noexcept;

}  // namespace jepa::cuda
