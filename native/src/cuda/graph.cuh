// CUDA graph wrapper: capture what a callable enqueues on a stream once, then
// replay it with one launch. Captured work must not allocate, synchronise or
// copy from pageable host memory; the planner reserves its buffers first.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "cuda/common.cuh"

namespace jepa::cuda {

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph() { reset(); }

  bool ready() const { return exec_ != nullptr; }

  template <typename Fn>
  void capture(cudaStream_t stream, Fn&& fn) {
    reset();
    JEPA_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    try {
      fn();
    } catch (...) {
      cudaGraph_t broken = nullptr;
      cudaStreamEndCapture(stream, &broken);  // leave the stream usable
      if (broken) cudaGraphDestroy(broken);
      cudaGetLastError();
      throw;
    }
    JEPA_CUDA_CHECK(cudaStreamEndCapture(stream, &graph_));
    JEPA_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
  }

  void launch(cudaStream_t stream) { JEPA_CUDA_CHECK(cudaGraphLaunch(exec_, stream)); }

  void reset() noexcept {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
  }

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace jepa::cuda
