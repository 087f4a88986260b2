// Launchers of the CUDA training kernels (backward.cu), device pointers on one
// stream; arguments are checked before launch like every other launcher.
#pragma once

#include "cuda/kernels.cuh"

namespace jepa::cuda {

// C[M, N] (ldc) = (accumulate ? C : 0) + Σ_k a[m·sam + k·sak] · b[k·sbk + n·sbn] (fp32).
void sgemm(const float* a, long long sam, long long sak, const float* b, long long sbk, long long sbn, float* c, int ldc,
           int M, int N, int K, bool accumulate, cudaStream_t s);
// y = x Wᵀ + b: dX = dY W (overwritten), dW += dYᵀ x, db += Σ_rows dY; any output may be null.
void linearBackward(const float* x, const float* w, const float* dY, float* dX, float* dW, float* db, int rows, int in,
                    int out, cudaStream_t s);
// LayerNorm over C: dX overwritten, dw/db accumulated (nullable).
void layerNormBackward(const float* x, const float* w, const float* dY, float* dX, float* dw, float* db, int rows,
                       int C, float eps, cudaStream_t s);
// dX = dY · act'(x), x the pre-activation.
void activationBackward(const float* x, const float* dY, float* dX, long long n, Act act, cudaStream_t s);
// qkv [B, T, 3W], dout [B, T, W] → dqkv [B, T, 3W] (overwritten); tpf > 0: frame-causal.
void attentionBackward(const float* qkv, const float* dout, float* dqkv, int B, int T, int W, int heads, int tpf,
                       cudaStream_t s);
// x [B, C, H, W], w [O, C, k, k], dY [B, O, OH, OW]: dX overwritten, dW/db accumulated (nullable).
// Workspaces: cols [B·OH·OW, C·k·k], dYp [B·OH·OW, O].
void conv2dBackward(const float* x, const float* w, const float* dY, float* dX, float* dW, float* db, int B, int C,
                    int H, int W, int O, int k, int stride, int pad, float* cols, float* dYp, cudaStream_t s);

struct AdamW {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weightDecay = 0.f;
  int step = 1;
};
// In place, as adamw_step on the CPU (decoupled decay first, bias-corrected moments).
void adamw(float* param, const float* grad, float* m, float* v, long long n, const AdamW& hp, cudaStream_t s);

}  // namespace jepa::cuda
