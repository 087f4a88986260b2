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

// General form: queries and keys/values from separate row-major buffers.
// Query i of a sample has global position q_offset + i among the kv_tokens
// keys (for the frame-causal mask); strides are in floats.
struct AttentionArgs {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;
  int ldq = 0, ldkv = 0, ldo = 0;                       // row strides
  size_t q_sample = 0, kv_sample = 0, out_sample = 0;   // per-sample strides
  int samples = 1, q_tokens = 0, kv_tokens = 0, q_offset = 0;
  int width = 0, heads = 1, frame_tokens = 0;
};
void attention(const AttentionArgs& args, ThreadPool* pool);

// Conv2d of one [C, H, W] image: weight [Cout, C, k, k] prepacked as a Linear
// (out = Cout, in = C·k·k), output [Cout, Ho, Wo].
void conv2d(const float* x, int channels, int height, int width, const PackedLinear& weight, int kernel, int stride,
            int padding, float* out, int* out_h, int* out_w, ThreadPool* pool);
// Output size of a conv along one axis.
inline int conv_out(int size, int kernel, int stride, int padding) { return (size + 2 * padding - kernel) / stride + 1; }

}  // namespace jepa
