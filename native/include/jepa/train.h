// Training kernels for the CPU backend: the backward pass of every op the
// shipped architectures use (linear, layer norm, group norm, activations,
// frame-causal multi-head attention, conv2d) and the AdamW update. All float32,
// row-major, shapes as in jepa/ops.h and src/model/config.ts. Parameter
// gradients are accumulated (+=) into caller buffers so a weight shared by
// several calls (a predictor unrolled over time) sums its gradient; input
// gradients are overwritten. A null output pointer skips that gradient.
// `pool` null runs on the calling thread.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "jepa/gemm.h"

namespace jepa {

class ThreadPool;

// A training kernel was called with inconsistent shapes or arguments.
class TrainArgError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Forward y[rows, out] = x[rows, in] · W[out, in]^T + b (packs W on every call;
// training weights change each step).
void linear_forward(const float* x, const float* W, const float* b, float* y, int rows, int in, int out,
                    ThreadPool* pool);
// dX = dY·W (overwritten), dW += dYᵀ·X, db += Σ_rows dY.
void linear_backward(const float* x, const float* W, const float* dY, float* dX, float* dW, float* db, int rows,
                     int in, int out, ThreadPool* pool);

// LayerNorm backward (statistics recomputed from x): dX overwritten, dw/db accumulated.
void layernorm_backward(const float* x, const float* w, const float* dY, float* dX, float* dw, float* db, int rows,
                        int dim, float eps, ThreadPool* pool);

// GroupNorm backward for `images` images of [channels, hw]: dX overwritten, dw/db accumulated.
void groupnorm_backward(const float* x, const float* w, const float* dY, float* dX, float* dw, float* db, int images,
                        int channels, int hw, int groups, float eps, ThreadPool* pool);

// Activation backward from the pre-activation x: dX = dY · act'(x) (dX == dY allowed).
void activation_backward(const float* x, const float* dY, float* dX, int64_t n, Act act, ThreadPool* pool);

// Attention backward (probabilities recomputed). qkv, dqkv: [samples·tokens, 3·width] laid
// out [q | k | v]; dout: [samples·tokens, width]. dqkv is overwritten.
void attention_backward(const float* qkv, const float* dout, float* dqkv, int samples, int tokens, int width,
                        int heads, int frame_tokens, ThreadPool* pool);

// Conv2d for `images` images [C, H, W] with weight [Cout, C, k, k] and zero padding.
void conv2d_forward(const float* x, const float* W, const float* b, float* y, int images, int channels, int height,
                    int width, int out_channels, int kernel, int stride, int padding, ThreadPool* pool);
// dX overwritten (may be null), dW/db accumulated.
void conv2d_backward(const float* x, const float* W, const float* dY, float* dX, float* dW, float* db, int images,
                     int channels, int height, int width, int out_channels, int kernel, int stride, int padding,
                     ThreadPool* pool);

struct AdamWParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  int step = 1;  // 1-based step number after this update (bias correction)
};
// In place: p *= 1 - lr·wd; m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²;
// p -= lr · (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + eps).
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWParams& hp,
                ThreadPool* pool);

// The pool the training binding uses (created on first use, hardware threads).
ThreadPool* train_pool();

}  // namespace jepa
