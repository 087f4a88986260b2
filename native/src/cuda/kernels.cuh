// Launchers of the backend's device kernels (device pointers, one stream).
// Every launcher validates its arguments with require() before launching, so
// a bad shape is a ShapeError, never an out-of-bounds access. Implementations:
// gemm.cu (tensor-core GEMM), ops.cu (norms, attention, conv helpers,
// energies), rollout.cu (fused MLP rollout), planner.cu (CEM).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "cuda/common.cuh"

namespace jepa::cuda {

// A Linear layer on the device: fp32 master weights [out, in], their bf16 copy
// for the tensor cores, bias [out] or null.
struct DLinear {
  const float* w = nullptr;
  const __nv_bfloat16* w16 = nullptr;
  const float* b = nullptr;
  int in = 0, out = 0;
};

// Epilogue of the GEMM: y = act(x·W^T + b); y *= gamma[n] when gamma;
// y += residual[m, n] (row stride ldr) when residual (may alias y).
struct Epilogue {
  Act act = Act::None;
  const float* gamma = nullptr;
  const float* residual = nullptr;
  int ldr = 0;
};

// y[M, N] (row stride ldy) = epilogue(x[M, K] (row stride ldx) · W^T): bf16
// tensor-core MMA (WMMA 16×16×16), fp32 accumulation, fp32 in and out.
void gemm(const float* x, int ldx, int M, const DLinear& L, float* y, int ldy, const Epilogue& ep, cudaStream_t s);

// LayerNorm over C channels of each of `rows` rows (strides ldx, ldy), optional activation after.
void layerNorm(const float* x, int ldx, int rows, int C, const float* w, const float* b, float eps, float* y, int ldy,
               Act act, cudaStream_t s);

// Multi-head softmax attention of qkv [B, T, 3W] ([q | k | v], each [heads, W/heads]) → out [B, T, W].
// tokensPerFrame > 0: frame-causal mask (token i sees token j iff j / tpf <= i / tpf); 0: full.
void attention(const float* qkv, int B, int T, int W, int heads, int tokensPerFrame, float* out, cudaStream_t s);

// GroupNorm (eps 1e-5) then activation, x [B, C, HW] in place allowed.
void groupNormAct(const float* x, int B, int C, int HW, int groups, const float* w, const float* b, Act act, float* y,
                  cudaStream_t s);

// im2col for a square-kernel Conv2d: x [B, C, H, W] → cols [B·OH·OW, C·k·k].
void im2col(const float* x, int B, int C, int H, int W, int k, int stride, int pad, int OH, int OW, float* cols,
            cudaStream_t s);

// [B, P, C] → [B, C, P].
void transposePC(const float* x, int B, int P, int C, float* y, cudaStream_t s);

// Per-channel normalisation: x [B, C, inner] → (x - mean[c]) / std[c]; mean/std device [C].
void normalizeChannels(const float* x, int B, int C, int inner, const float* mean, const float* stdv, float* y,
                       cudaStream_t s);

// Mean over HW of x [B, C, HW] → [B, C].
void meanPool(const float* x, int B, int C, int HW, float* y, cudaStream_t s);

// Device copy of the cost (weights and, when present, previousAction/low/high in device memory).
struct DCost {
  bool l2 = false;
  float terminalWeight = 0, runningWeight = 0, magnitudeWeight = 0, rateWeight = 0, boundsWeight = 0;
  const float* previousAction = nullptr;
  const float* low = nullptr;
  const float* high = nullptr;
};

// energies[n] = action terms of actions [N, H, A] (magnitude, rate, bounds).
void actionEnergy(const float* actions, int N, int H, int A, const DCost& c, float* energies, cudaStream_t s);

// energies[n] += runningWeight · dist(z_n, g) (+ terminalWeight · dist when terminal);
// z rows of length L with row stride ldz.
void latentEnergy(const float* z, int ldz, int N, int L, const float* goal, const DCost& c, bool terminal,
                  float* energies, cudaStream_t s);

// Gathers rows: y[n, :] = x[n · strideRows + offsetRow, :] for row width C (used to pull the last frame).
void copyRows(const float* x, long long ldx, float* y, long long ldy, int rows, int C, cudaStream_t s);

// The fused MLP rollout (rollout.cu): one kernel runs all H steps of an MLP
// predictor for a block of samples, weights in shared memory, energy included.
struct FusedMlp {
  int layers = 0;                // hidden layers + 1
  int dims[10] = {0};            // dims[0] = latentDim + A, dims[i+1] = out of layer i
  const float* w[9] = {nullptr};  // [out, in]
  const float* b[9] = {nullptr};
  const float* lnw[9] = {nullptr};  // LayerNorm per hidden layer (null when none)
  const float* lnb[9] = {nullptr};
  Act act = Act::Gelu;
  bool residual = true;
  int latentDim = 0, actionDim = 0;
  std::size_t weightFloats = 0;  // total floats of weights + biases + norms (staged in shared memory)
};

// Shared memory the fused kernel needs for `samplesPerBlock` samples, bytes.
std::size_t fusedMlpSharedBytes(const FusedMlp& m, int samplesPerBlock);
// z0 device [L]; actions device [N, H, A]; goal device [L]; energies must already
// hold the action terms (actionEnergy). Optional outputs may be null.
void fusedMlpRollout(const FusedMlp& m, const float* z0, const float* actions, int N, int H, const float* goal,
                     const DCost& c, float* energies, float* finalLatents, float* trajectory, int samplesPerBlock,
                     cudaStream_t s);

}  // namespace jepa::cuda
