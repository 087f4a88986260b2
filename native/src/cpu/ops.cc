// CPU ops built on the GEMM and the per-ISA row kernels: layer/group norm,
// activations, frame-causal multi-head attention, conv2d (im2col + GEMM).
#include "jepa/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "jepa/thread_pool.h"
#include "kernels.h"

namespace jepa {

namespace {

// Scratch that lives as long as its thread and only grows: reused between
// calls without allocation once warm.
FloatBuffer& thread_scratch(int slot) {
  thread_local FloatBuffer buffers[4];
  return buffers[slot];
}

template <typename F>
void for_rows(int rows, int per_task, ThreadPool* pool, F&& f) {
  const int tasks = (rows + per_task - 1) / per_task;
  auto body = [&](int64_t t, int) {
    const int r0 = static_cast<int>(t) * per_task;
    f(r0, std::min(rows, r0 + per_task));
  };
  if (pool && pool->size() > 1 && tasks > 1) pool->parallel_for(tasks, body);
  else
    for (int t = 0; t < tasks; ++t) body(t, 0);
}

}  // namespace

void layernorm(const float* x, float* y, int rows, int dim, const float* w, const float* b, float eps,
               ThreadPool* pool) {
  const auto& kt = cpu::active_table();
  const int per = std::max(1, 16384 / std::max(dim, 1));
  for_rows(rows, per, pool, [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r)
      kt.layernorm_row(x + static_cast<size_t>(r) * dim, y + static_cast<size_t>(r) * dim, dim, w, b, eps);
  });
}

void groupnorm(const float* x, float* y, int channels, int hw, int groups, const float* w, const float* b,
               float eps) {
  const int cg = channels / groups;
  const size_t n = static_cast<size_t>(cg) * hw;
  for (int g = 0; g < groups; ++g) {
    const float* xs = x + g * n;
    float* ys = y + g * n;
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += xs[i];
    const double mean = sum / static_cast<double>(n);
    double sq = 0;
    for (size_t i = 0; i < n; ++i) {
      const double d = xs[i] - mean;
      sq += d * d;
    }
    const float rstd = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(n) + eps));
    const float m = static_cast<float>(mean);
    for (int c = 0; c < cg; ++c) {
      const int ch = g * cg + c;
      const float scale = rstd * w[ch];
      const float shift = b[ch] - m * scale;
      const float* xc = xs + static_cast<size_t>(c) * hw;
      float* yc = ys + static_cast<size_t>(c) * hw;
      for (int i = 0; i < hw; ++i) yc[i] = xc[i] * scale + shift;
    }
  }
}

void activate(float* x, int64_t n, Act act, ThreadPool* pool) {
  if (act == Act::None || n <= 0) return;
  const auto& kt = cpu::active_table();
  constexpr int64_t kChunk = 16384;
  const int64_t tasks = (n + kChunk - 1) / kChunk;
  auto body = [&](int64_t t, int) {
    const int64_t i0 = t * kChunk;
    kt.activate(x + i0, std::min(kChunk, n - i0), act);
  };
  if (pool && pool->size() > 1 && tasks > 1) pool->parallel_for(tasks, body);
  else
    for (int64_t t = 0; t < tasks; ++t) body(t, 0);
}

void softmax_rows(float* x, int rows, int n, float scale) {
  const auto& kt = cpu::active_table();
  for (int r = 0; r < rows; ++r) kt.softmax_row(x + static_cast<size_t>(r) * n, n, scale);
}

void attention(const AttentionArgs& a, ThreadPool* pool) {
  const auto& kt = cpu::active_table();
  const int dh = a.width / a.heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  const int Tq = a.q_tokens, Tk = a.kv_tokens;
  auto body = [&](int64_t task, int) {
    const int s = static_cast<int>(task / a.heads), h = static_cast<int>(task % a.heads);
    const float* q = a.q + s * a.q_sample + h * dh;
    const float* k = a.k + s * a.kv_sample + h * dh;
    const float* v = a.v + s * a.kv_sample + h * dh;
    FloatBuffer& kp = thread_scratch(0);
    FloatBuffer& vp = thread_scratch(1);
    FloatBuffer& sc = thread_scratch(2);
    kp.ensure(packed_size(Tk, dh));
    vp.ensure(packed_size(dh, Tk));
    sc.ensure(static_cast<size_t>(Tq) * Tk);
    pack_b_nk(k, Tk, dh, a.ldkv, kp.data());
    pack_b_kn(v, Tk, dh, a.ldkv, vp.data());
    float* S = sc.data();
    // S = q k^T, then masked, scaled, stable softmax per row.
    gemm(Tq, Tk, dh, q, a.ldq, kp.data(), nullptr, S, Tk, false, Act::None, nullptr);
    for (int i = 0; i < Tq; ++i) {
      float* row = S + static_cast<size_t>(i) * Tk;
      const int pos = a.q_offset + i;
      const int valid = a.frame_tokens > 0 ? std::min(Tk, (pos / a.frame_tokens + 1) * a.frame_tokens) : Tk;
      kt.softmax_row(row, valid, scale);
      for (int j = valid; j < Tk; ++j) row[j] = 0.f;
    }
    gemm(Tq, dh, Tk, S, Tk, vp.data(), nullptr, a.out + s * a.out_sample + h * dh, a.ldo, false, Act::None, nullptr);
  };
  const int64_t tasks = static_cast<int64_t>(a.samples) * a.heads;
  if (pool && pool->size() > 1 && tasks > 1) pool->parallel_for(tasks, body);
  else
    for (int64_t t = 0; t < tasks; ++t) body(t, 0);
}

void attention(const float* qkv, float* out, int samples, int tokens, int width, int heads, int frame_tokens,
               ThreadPool* pool) {
  AttentionArgs a;
  a.q = qkv;
  a.k = qkv + width;
  a.v = qkv + 2 * width;
  a.out = out;
  a.ldq = a.ldkv = 3 * width;
  a.ldo = width;
  a.q_sample = a.kv_sample = static_cast<size_t>(tokens) * 3 * width;
  a.out_sample = static_cast<size_t>(tokens) * width;
  a.samples = samples;
  a.q_tokens = a.kv_tokens = tokens;
  a.width = width;
  a.heads = heads;
  a.frame_tokens = frame_tokens;
  attention(a, pool);
}

void conv2d(const float* x, int channels, int height, int width, const PackedLinear& weight, int kernel, int stride,
            int padding, float* out, int* out_h, int* out_w, ThreadPool* pool) {
  const int ho = conv_out(height, kernel, stride, padding), wo = conv_out(width, kernel, stride, padding);
  const int ckk = channels * kernel * kernel;
  const int hw = ho * wo;
  const int cout = weight.out;
  FloatBuffer& cols = thread_scratch(2);
  FloatBuffer& res = thread_scratch(3);
  cols.ensure(static_cast<size_t>(hw) * ckk);
  res.ensure(static_cast<size_t>(hw) * cout);
  float* c = cols.data();
  for (int oy = 0; oy < ho; ++oy)
    for (int ox = 0; ox < wo; ++ox) {
      float* row = c + static_cast<size_t>(oy * wo + ox) * ckk;
      for (int ch = 0; ch < channels; ++ch)
        for (int ky = 0; ky < kernel; ++ky) {
          const int iy = oy * stride - padding + ky;
          float* dst = row + (ch * kernel + ky) * kernel;
          if (iy < 0 || iy >= height) {
            std::memset(dst, 0, kernel * sizeof(float));
            continue;
          }
          const float* src = x + (static_cast<size_t>(ch) * height + iy) * width;
          for (int kx = 0; kx < kernel; ++kx) {
            const int ix = ox * stride - padding + kx;
            dst[kx] = (ix >= 0 && ix < width) ? src[ix] : 0.f;
          }
        }
    }
  linear(weight, hw, c, ckk, res.data(), cout, false, Act::None, pool);
  const float* r = res.data();
  for (int p = 0; p < hw; ++p)
    for (int o = 0; o < cout; ++o) out[static_cast<size_t>(o) * hw + p] = r[static_cast<size_t>(p) * cout + o];
  *out_h = ho;
  *out_w = wo;
}

}  // namespace jepa
