// Neural-network ops on float32 rows, used by every CPU architecture and
// exposed one by one to the parity tests. `pool` null = run on the calling
// thread (used inside per-sample parallel rollouts).
#pragma once

#include <cstdint>

#include "jepa/gemm.h"

namespace jepa {

class ThreadPool;

// y[r] = LayerNorm(x[r]) over `dim` for `rows` rows (x == y allowed).
void layernorm(const float* x, float* y, int rows, int dim, const float* w, const float* b, float eps,
               ThreadPool* pool);
// GroupNorm of one [C, HW] image in place-able form (x == y allowed).
void groupnorm(const float* x, float* y, int channels, int hw, int groups, const float* w, const float* b, float eps);
// In place activation.
void activate(float* x, int64_t n, Act act, ThreadPool* pool);
// In place softmax of scale·x over each of `rows` rows of length n.
void softmax_rows(float* x, int rows, int n, float scale);

// Multi-head self-attention for `samples` independent sequences of `tokens`
// tokens. qkv: [samples·tokens, 3·width] laid out [q | k | v], each
// [heads, width/heads]. out: [samples·tokens, width]. frame_tokens > 0 makes
// it frame-causal: a token of frame f = t / frame_tokens sees tokens of frames
// <= f; 0 = unmasked.
void attention(const float* qkv, float* out, int samples, int tokens, int width, int heads, int frame_tokens,
               ThreadPool* pool);

// Conv2d of one [C, H, W] image: weight [Cout, C, k, k] prepacked as a Linear
// (out = Cout, in = C·k·k), output [Cout, Ho, Wo].
void conv2d(const float* x, int channels, int height, int width, const PackedLinear& weight, int kernel, int stride,
            int padding, float* out, int* out_h, int* out_w, ThreadPool* pool);
// Output size of a conv along one axis.
inline int conv_out(int size, int kernel, int stride, int padding) { return (size + 2 * padding - kernel) / stride + 1; }

}  // namespace jepa
