// Internals of the CUDA model shared by model.cu and planner.cu: the device
// weights of every architecture, the workspace slots, and the device-pointer
// rollout the CEM planner captures into a CUDA graph.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/graph.cuh"
#include "cuda/kernels.cuh"

namespace jepa::cuda {

struct Norm {
  const float* w = nullptr;
  const float* b = nullptr;
};

struct MlpStack {
  std::vector<DLinear> layers;
  std::vector<Norm> norms;  // per hidden layer; w null when the stack has no LayerNorm
  Act act = Act::Gelu;
};

struct Block {
  Norm norm1, norm2;
  DLinear qkv, proj, fc1, fc2;
  const float* ls1 = nullptr;
  const float* ls2 = nullptr;
};

// A rollout on device pointers (see Model::rollout for the meaning of each field).
struct DeviceRollout {
  const float* z0 = nullptr;
  int frames = 1;
  const float* actionHistory = nullptr;
  const float* actions = nullptr;
  int n = 0, horizon = 0;
  const float* goal = nullptr;
  DCost cost;
  float* energies = nullptr;
  float* finalLatents = nullptr;
  float* trajectory = nullptr;
  float* proprio = nullptr;
};

// y[n·syn + t·syt + c] = x[n·sxn + t·sxt + c] (+ add[t·sat + c]) for n < N, t < T, c < C.
void gather(const float* x, long long sxn, long long sxt, float* y, long long syn, long long syt, int N, int T, int C,
            cudaStream_t s, const float* add = nullptr, long long sat = 0);
void fill(float* y, long long count, float v, cudaStream_t s);

// Device state of one CEM configuration (planner.cu): its buffers and the
// captured iteration graph, kept per model and reused while the sizes, cost
// weights and options stay the same.
struct CemState {
  DeviceBuffer<float> z0, hist, goal, cost, mean, stdv, initStd, clip, samples, energies, best, bestPerIter;
  DeviceBuffer<int> elites, iteration;
  DCost dcost;
  Graph graph;
};

struct Model::Impl {
  Impl(const Spec& s, const TensorLookup& lookup);
  ~Impl();

  Spec spec;
  std::string deviceName;
  std::size_t smemOptin = 48 * 1024;
  int multiprocessors = 1;
  cudaStream_t stream = nullptr;
  std::mutex mutex;  // one call at a time per model (one stream, shared workspaces)
  bool capturing = false;

  // Weights.
  DeviceBuffer<float> normMean, normStd;
  MlpStack encMlp;
  std::vector<DLinear> convs;
  std::vector<Norm> convNorms;
  DLinear head, patch;
  const float* cls = nullptr;
  const float* encPos = nullptr;
  std::vector<Block> encBlocks;
  Norm encNorm, encOutNorm;
  MlpStack predMlp;
  FusedMlp fused;
  bool useFused = false;
  DLinear actionEmbed, predHead, proprio;
  const float* predPos = nullptr;
  std::vector<Block> predBlocks;
  Norm predNorm;

  // Workspaces (grow-only) and per-call input/output staging.
  enum Slot {
    kSlotInput, kSlotA, kSlotB, kSlotCols, kSlotTokens, kSlotNorm, kSlotQkv, kSlotAtt, kSlotHidden,
    kSlotSeq, kSlotTraj, kSlotActs, kSlotEmb, kScratch
  };
  DeviceBuffer<float> work[kScratch];
  DeviceBuffer<float> io[9];
  std::map<std::string, std::unique_ptr<CemState>> graphs;

  float* scratch(int slot, std::size_t count);
  void encodeDevice(const float* frames, int count, float* out);
  // Grows every workspace a rollout of this size touches, so rolloutDevice never allocates.
  void reserveRollout(int N, int H, int F);
  void rolloutDevice(const DeviceRollout& r);
  DCost uploadCost(const Cost& c, DeviceBuffer<float>& buf);
  void runMlp(const MlpStack& m, const float* x, int M, float* y, int ldy, const float* residual, int ldr, int slotA,
              int slotB);
  void runBlocks(const std::vector<Block>& bl, float* x, int B, int T, int W, int heads, float eps, int tpf);

 private:
  void build();
  const float* upload(const std::string& name, std::size_t expected);
  DLinear linear(const std::string& prefix, int in, int out, bool bias = true);
  Norm norm(const std::string& prefix, int C);
  MlpStack mlpStack(const std::string& prefix, int in, const std::vector<int>& hidden, int out, Act act, bool layerNorm);
  std::vector<Block> blocks(const std::string& prefix, int depth, int W, double ratio, bool qkvBias, bool layerScale);

  TensorLookup lookup_;
  std::map<std::string, DeviceBuffer<float>> tensors_;
  std::vector<DeviceBuffer<__nv_bfloat16>> bf16_;
};

}  // namespace jepa::cuda
