// The CUDA world model's C++ API (plain C++, no CUDA headers, so the Node-API
// binding includes it without nvcc): the flat model description the binding
// fills from the zod-parsed config, the three heavy calls of the WorldModel
// contract (encode, rollout, decodeProprio; energy formula in
// src/addon/types.ts), the on-device CEM planner, and single-op entry points
// for the parity suite, including the training kernels. Implemented in
// model.cu, ops.cu, gemm.cu, rollout.cu, planner.cu and backward.cu.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace jepa::cuda {

// No usable CUDA device; message: "no CUDA device: <cuda error string>".
struct NoDeviceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A CUDA call failed (launch, allocation, copy); the message names the call.
struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A kernel argument (shape, stride, alignment, pointer) was refused before launch.
struct ShapeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// A required tensor is missing or has the wrong element count.
struct TensorError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Act : int { None = 0, Gelu = 1, Relu = 2, Tanh = 3, Silu = 4 };

struct Stage {
  int channels = 0, kernel = 1, stride = 1, padding = 0;
};

// Same fields as NativeModelSpec (src/addon/native-model-bindings.ts).
struct Spec {
  int latentTokens = 1, latentDim = 0, actionDim = 0, proprioDim = 0;
  std::vector<float> normMean, normStd;

  enum class Encoder { Mlp, Cnn, Vit } encoder = Encoder::Mlp;
  int inputDim = 0;
  std::vector<int> encHidden;
  Act encAct = Act::Gelu;
  bool encLayerNorm = false, encOutputNorm = false;
  int inChannels = 3, imageSize = 0;
  std::vector<Stage> stages;
  bool groupNorm = true;
  int groups = 8;
  bool avgpool = false;
  int headProprio = 0;  // cnn: last input channels whose means join the head (proprio planes)
  int patchSize = 0, embedDim = 0, depth = 0, numHeads = 0;
  double mlpRatio = 4;
  bool qkvBias = true, layerScale = false;
  float eps = 1e-6f;
  enum class VitOutput { Cls, Patch, ClsPatch } vitOutput = VitOutput::Cls;

  enum class Predictor { Mlp, Transformer } predictor = Predictor::Mlp;
  std::vector<int> predHidden;
  Act predAct = Act::Gelu;
  bool predLayerNorm = false, residual = true;
  int predDepth = 0, predHeads = 0, historyLength = 1, actionEmbedDim = 0;
  double predMlpRatio = 4;
  bool concat = true, predQkvBias = true, outputHead = true;
  float predEps = 1e-6f;

  int latentSize() const { return latentTokens * latentDim; }
  int inputSize() const { return encoder == Encoder::Mlp ? inputDim : inChannels * imageSize * imageSize; }
  int predictorWidth() const {
    return predictor == Predictor::Transformer && concat ? latentDim + actionEmbedDim : latentDim;
  }
};

// Host weights by name: returns the data and sets *count, or null when absent.
using TensorLookup = std::function<const float*(const std::string& name, std::size_t* count)>;

// The energy terms of one rollout (src/addon/types.ts); host pointers.
struct Cost {
  bool l2 = false;
  float terminalWeight = 0, runningWeight = 0, actionMagnitudeWeight = 0, actionRateWeight = 0, boundsWeight = 0;
  const float* previousAction = nullptr;  // [A] or null
  const float* low = nullptr;             // [A]; low/high only read when boundsWeight > 0
  const float* high = nullptr;
};

struct RolloutCall {
  const float* z0 = nullptr;  // [frames, latentSize]
  int frames = 1;
  const float* actionHistory = nullptr;  // [frames - 1, A] or null (zeros)
  const float* actions = nullptr;        // [n, horizon, A]
  int n = 0, horizon = 0;
  const float* goal = nullptr;  // [latentSize]
  Cost cost;
  float* energies = nullptr;      // [n]
  float* finalLatents = nullptr;  // [n, latentSize] or null
  float* trajectory = nullptr;    // [n, horizon, latentSize] or null
  float* proprio = nullptr;       // [n, horizon, proprioDim] or null
};

// One CEM plan on the device: every iteration (sample, clip, rollout, energy,
// top-k elites, mean/std update) is one CUDA graph replay.
struct CemCall {
  const float* z0 = nullptr;
  int frames = 1;
  const float* actionHistory = nullptr;
  const float* goal = nullptr;
  Cost cost;
  int samples = 0, horizon = 0, iterations = 0, elites = 0;
  const float* initMean = nullptr;  // [horizon, A]
  const float* initStd = nullptr;   // [horizon, A]
  const float* clipLow = nullptr;   // [A] sampling box, or null for none
  const float* clipHigh = nullptr;
  float minStd = 1e-3f, momentum = 0, stdMomentum = 0.3f;
  bool includeMean = true;
  std::uint64_t seed = 0;
  // Outputs.
  float* bestActions = nullptr;  // [horizon, A]
  float* finalMean = nullptr;    // [horizon, A]
  float* iterationStats = nullptr;  // [iterations, 2]: lowest and mean energy of each iteration
  float bestEnergy = 0;
  bool usedGraph = false;
};

class Model {
 public:
  // Uploads the weights to the current device; throws NoDeviceError without one.
  Model(const Spec& spec, const TensorLookup& lookup);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const Spec& spec() const;
  // True when rollouts take the single-kernel MLP path (widths <= 256, weights fit in shared memory).
  bool fusedMlpRollout() const;
  std::string deviceName() const;

  void encode(const float* frames, int count, float* out);
  void rollout(const RolloutCall& call);
  void decodeProprio(const float* latents, int count, float* out);
  void planCem(CemCall& call);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Philox4x32-10 of the CEM sampler, evaluated on the host (no device needed): known-answer tests.
void philoxForTest(const std::uint32_t counter[4], const std::uint32_t key[2], std::uint32_t out[4]);

// Throws NoDeviceError unless a CUDA device is usable; selects device 0.
void requireDevice();

// Single ops on host arrays for the parity suite (synchronous; copies in and out).
// linear: y[M,N] = act(x[M,K] · w[N,K]^T + b) via the bf16 tensor-core GEMM.
void opLinear(const float* x, const float* w, const float* b, int M, int K, int N, Act act, float* y);
// layernorm over the last dim C of x[rows, C].
void opLayerNorm(const float* x, const float* w, const float* b, int rows, int C, float eps, float* y);
// attention: qkv [B, T, 3W] → out [B, T, W]; tokensPerFrame > 0 applies the frame-causal mask.
void opAttention(const float* qkv, int B, int T, int W, int heads, int tokensPerFrame, float* out);
// groupnorm + activation of x[B, C, HW].
void opGroupNorm(const float* x, const float* w, const float* b, int B, int C, int HW, int groups, Act act, float* y);
// conv2d via im2col + GEMM: x [B, C, H, W] → y [B, O, OH, OW].
void opConv2d(const float* x, const float* w, const float* b, int B, int C, int H, int W, int O, int k, int stride,
              int pad, float* y);


// Training kernels (backward.cu) on host arrays for the parity suite. Input
// gradients (dX, dqkv) are overwritten; parameter gradients (dW, db, dw) are
// accumulated into the values passed in; any gradient output may be null.
void opLinearBackward(const float* x, const float* w, const float* dY, int rows, int in, int out, float* dX, float* dW,
                      float* db);
void opLayerNormBackward(const float* x, const float* w, const float* dY, int rows, int C, float eps, float* dX,
                         float* dw, float* db);
void opActivationBackward(const float* x, const float* dY, long long n, Act act, float* dX);
void opAttentionBackward(const float* qkv, const float* dout, int B, int T, int W, int heads, int tokensPerFrame,
                         float* dqkv);
void opConv2dBackward(const float* x, const float* w, const float* dY, int B, int C, int H, int W, int O, int k,
                      int stride, int pad, float* dX, float* dW, float* db);
// One AdamW update in place (param, m, v), decoupled weight decay, 1-based step.
void opAdamW(float* param, const float* grad, float* m, float* v, long long n, float lr, float beta1, float beta2,
             float eps, float weightDecay, int step);

}  // namespace jepa::cuda
