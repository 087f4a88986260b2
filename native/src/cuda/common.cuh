// Shared by every CUDA translation unit of the backend: error checking that
// turns a failed CUDA call into a C++ exception (→ a JS error in the binding),
// an owning device buffer, argument checks run before each launch, and the
// activation functions the kernels fuse into their epilogues.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "cuda/model.h"

namespace jepa::cuda {

// Throws CudaError naming the failed call and CUDA's own error text.
void check(cudaError_t status, const char* what);

#define JEPA_CUDA_CHECK(call) ::jepa::cuda::check((call), #call)

// A kernel argument that would launch out of bounds; thrown before the launch.
inline void require(bool ok, const std::string& what) {
  if (!ok) throw ShapeError(what);
}

// Owning device allocation of `count` elements of T (cudaMalloc / cudaFree).
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) { resize(count); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), count_(o.count_) {
    o.ptr_ = nullptr;
    o.count_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      ptr_ = o.ptr_;
      count_ = o.count_;
      o.ptr_ = nullptr;
      o.count_ = 0;
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }

  // Grows (never shrinks) to hold at least `count` elements; contents are not kept.
  void resize(std::size_t count) {
    if (count <= count_) return;
    release();
    void* p = nullptr;
    JEPA_CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
    ptr_ = static_cast<T*>(p);
    count_ = count;
  }
  void release() noexcept {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }
  T* get() const { return ptr_; }
  std::size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

__device__ __forceinline__ float activate(float x, Act act) {
  switch (act) {
    case Act::Gelu:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Act::Relu:
      return x > 0.f ? x : 0.f;
    case Act::Tanh:
      return tanhf(x);
    case Act::Silu:
      return x / (1.0f + expf(-x));
    case Act::None:
    default:
      return x;
  }
}

__device__ __forceinline__ float warpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

inline unsigned ceilDiv(long long a, long long b) { return static_cast<unsigned>((a + b - 1) / b); }

}  // namespace jepa::cuda
