// Backward passes of the CPU ops (jepa/train.h): linear and conv2d through the
// packed GEMM (dX = dY·W, dW = dYᵀ·X; conv via im2col / col2im), layer and
// group norm with statistics recomputed from the input, activations from the
// pre-activation, and frame-causal attention with probabilities recomputed per
// row. Parallel over rows / images / (sample, head) on the shared pool; tasks
// that reduce into parameter gradients keep one partial per thread and add
// them up at the end, so results do not depend on scheduling order beyond
// float rounding.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "jepa/ops.h"
#include "jepa/thread_pool.h"
#include "jepa/train.h"

// Functions marked JEPA_ISA_CLONES are compiled once per ISA (AVX-512, AVX2,
// baseline) and the loader picks the best; they are written branch-free so
// the compiler vectorises them.
#if defined(__x86_64__) && defined(__GNUC__)
#define JEPA_ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define JEPA_ISA_CLONES
#endif

namespace jepa {

namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw TrainArgError(what);
}

int threads_of(ThreadPool* pool) { return pool ? pool->size() : 1; }

// Runs f(task, thread) for tasks in [0, n) on the pool, or inline.
template <typename F>
void run_tasks(int64_t n, ThreadPool* pool, F&& f) {
  if (pool && pool->size() > 1 && n > 1) {
    pool->parallel_for(n, [&](int64_t t, int thread) { f(t, thread); });
  } else {
    for (int64_t t = 0; t < n; ++t) f(t, 0);
  }
}

// Per-thread partial sums of a parameter gradient, reduced into dst (+=).
class Partials {
 public:
  Partials(int threads, size_t n) : n_(n), data_(static_cast<size_t>(threads) * n, 0.0f) {}
  float* slot(int thread) { return data_.data() + static_cast<size_t>(thread) * n_; }
  void add_to(float* dst) const {
    if (!dst) return;
    const size_t threads = n_ ? data_.size() / n_ : 0;
    for (size_t t = 0; t < threads; ++t) {
      const float* s = data_.data() + t * n_;
      for (size_t i = 0; i < n_; ++i) dst[i] += s[i];
    }
  }

 private:
  size_t n_;
  std::vector<float> data_;
};

void transpose(const float* src, int rows, int cols, float* dst) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) dst[static_cast<size_t>(c) * rows + r] = src[static_cast<size_t>(r) * cols + c];
}

// C[M, N] += A[M, K] · B[N, K]ᵀ as M·N dot products of length K: for the conv
// weight gradient, where M·N is small and K (output pixels) is long — a shape
// the panel GEMM handles poorly. Four rows of A share each load of B, and 16
// independent partial sums per dot product let it vectorise without
// reassociating a single reduction.
JEPA_ISA_CLONES void dot_gemm(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc) {
  constexpr int L = 16;
  constexpr int R = 4;
  const int K16 = K - K % L;
  int m = 0;
  for (; m + R <= M; m += R) {
    const float* a0 = A + static_cast<size_t>(m) * lda;
    for (int n = 0; n < N; ++n) {
      const float* b = B + static_cast<size_t>(n) * ldb;
      float acc[R][L] = {};
      for (int k = 0; k < K16; k += L)
        for (int r = 0; r < R; ++r)
          for (int l = 0; l < L; ++l) acc[r][l] += a0[static_cast<size_t>(r) * lda + k + l] * b[k + l];
      for (int r = 0; r < R; ++r) {
        const float* a = a0 + static_cast<size_t>(r) * lda;
        float sum = 0;
        for (int l = 0; l < L; ++l) sum += acc[r][l];
        for (int k = K16; k < K; ++k) sum += a[k] * b[k];
        C[static_cast<size_t>(m + r) * ldc + n] += sum;
      }
    }
  }
  for (; m < M; ++m) {
    const float* a = A + static_cast<size_t>(m) * lda;
    for (int n = 0; n < N; ++n) {
      const float* b = B + static_cast<size_t>(n) * ldb;
      float acc[L] = {};
      for (int k = 0; k < K16; k += L)
        for (int l = 0; l < L; ++l) acc[l] += a[k + l] * b[k + l];
      float sum = 0;
      for (int l = 0; l < L; ++l) sum += acc[l];
      for (int k = K16; k < K; ++k) sum += a[k] * b[k];
      C[static_cast<size_t>(m) * ldc + n] += sum;
    }
  }
}

void im2col(const float* x, int C, int H, int W, int k, int stride, int pad, int Ho, int Wo, float* cols) {
  const int hw = Ho * Wo;
  for (int c = 0; c < C; ++c)
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx) {
        float* row = cols + static_cast<size_t>((c * k + ky) * k + kx) * hw;
        for (int oy = 0; oy < Ho; ++oy) {
          const int iy = oy * stride - pad + ky;
          float* out = row + oy * Wo;
          if (iy < 0 || iy >= H) {
            std::fill(out, out + Wo, 0.0f);
            continue;
          }
          const float* in = x + (static_cast<size_t>(c) * H + iy) * W;
          for (int ox = 0; ox < Wo; ++ox) {
            const int ix = ox * stride - pad + kx;
            out[ox] = (ix >= 0 && ix < W) ? in[ix] : 0.0f;
          }
        }
      }
}

void col2im_add(const float* cols, int C, int H, int W, int k, int stride, int pad, int Ho, int Wo, float* dx) {
  const int hw = Ho * Wo;
  for (int c = 0; c < C; ++c)
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx) {
        const float* row = cols + static_cast<size_t>((c * k + ky) * k + kx) * hw;
        for (int oy = 0; oy < Ho; ++oy) {
          const int iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= H) continue;
          float* out = dx + (static_cast<size_t>(c) * H + iy) * W;
          for (int ox = 0; ox < Wo; ++ox) {
            const int ix = ox * stride - pad + kx;
            if (ix >= 0 && ix < W) out[ix] += row[oy * Wo + ox];
          }
        }
      }
}

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

}  // namespace

ThreadPool* train_pool() {
  static std::once_flag once;
  static std::unique_ptr<ThreadPool> pool;
  std::call_once(once, [] { pool = std::make_unique<ThreadPool>(ThreadPool::hardware_threads()); });
  return pool.get();
}

// ── linear ──────────────────────────────────────────────────────────────────

void linear_forward(const float* x, const float* W, const float* b, float* y, int rows, int in, int out,
                    ThreadPool* pool) {
  require(rows > 0 && in > 0 && out > 0, "linear: rows, in and out must be positive");
  FloatBuffer packed(packed_size(out, in));
  pack_b_nk(W, out, in, in, packed.data());
  gemm(rows, out, in, x, in, packed.data(), b, y, out, false, Act::None, pool);
}

void linear_backward(const float* x, const float* W, const float* dY, float* dX, float* dW, float* db, int rows,
                     int in, int out, ThreadPool* pool) {
  require(rows > 0 && in > 0 && out > 0, "linearBackward: rows, in and out must be positive");
  if (dX) {
    // dX[rows, in] = dY[rows, out] · W[out, in]: B = W given as [K = out, N = in].
    FloatBuffer packed(packed_size(in, out));
    pack_b_kn(W, out, in, in, packed.data());
    gemm(rows, in, out, dY, out, packed.data(), nullptr, dX, in, false, Act::None, pool);
  }
  if (dW) {
    // dW[out, in] += dYᵀ[out, rows] · X[rows, in]: B = X given as [K = rows, N = in].
    FloatBuffer dyt(static_cast<size_t>(out) * rows);
    transpose(dY, rows, out, dyt.data());
    FloatBuffer packed(packed_size(in, rows));
    pack_b_kn(x, rows, in, in, packed.data());
    gemm(out, in, rows, dyt.data(), rows, packed.data(), nullptr, dW, in, true, Act::None, pool);
  }
  if (db) {
    for (int r = 0; r < rows; ++r) {
      const float* g = dY + static_cast<size_t>(r) * out;
      for (int o = 0; o < out; ++o) db[o] += g[o];
    }
  }
}

// ── norms ───────────────────────────────────────────────────────────────────

void layernorm_backward(const float* x, const float* w, const float* dY, float* dX, float* dw, float* db, int rows,
                        int dim, float eps, ThreadPool* pool) {
  require(rows > 0 && dim > 0, "layerNormBackward: rows and dim must be positive");
  const int per = std::max(1, 8192 / dim);
  const int64_t tasks = (rows + per - 1) / per;
  const int threads = threads_of(pool);
  Partials pw(threads, dim), pb(threads, dim);
  run_tasks(tasks, pool, [&](int64_t t, int thread) {
    float* tw = pw.slot(thread);
    float* tb = pb.slot(thread);
    std::vector<float> xhat(dim);
    const int r1 = std::min(rows, static_cast<int>(t + 1) * per);
    for (int r = static_cast<int>(t) * per; r < r1; ++r) {
      const float* xr = x + static_cast<size_t>(r) * dim;
      const float* gr = dY + static_cast<size_t>(r) * dim;
      double mean = 0;
      for (int c = 0; c < dim; ++c) mean += xr[c];
      mean /= dim;
      double var = 0;
      for (int c = 0; c < dim; ++c) var += (xr[c] - mean) * (xr[c] - mean);
      var /= dim;
      const float rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
      float sum_g = 0, sum_gx = 0;
      for (int c = 0; c < dim; ++c) {
        xhat[c] = static_cast<float>(xr[c] - mean) * rstd;
        const float g = gr[c] * w[c];
        sum_g += g;
        sum_gx += g * xhat[c];
        tw[c] += gr[c] * xhat[c];
        tb[c] += gr[c];
      }
      if (dX) {
        float* dx = dX + static_cast<size_t>(r) * dim;
        const float mg = sum_g / dim, mgx = sum_gx / dim;
        for (int c = 0; c < dim; ++c) dx[c] = rstd * (gr[c] * w[c] - mg - xhat[c] * mgx);
      }
    }
  });
  pw.add_to(dw);
  pb.add_to(db);
}

void groupnorm_backward(const float* x, const float* w, const float* dY, float* dX, float* dw, float* db, int images,
                        int channels, int hw, int groups, float eps, ThreadPool* pool) {
  require(images > 0 && channels > 0 && hw > 0 && groups > 0 && channels % groups == 0,
          "groupNormBackward: channels " + std::to_string(channels) + " must be a positive multiple of groups " +
              std::to_string(groups));
  const int cg = channels / groups;
  const size_t n = static_cast<size_t>(cg) * hw;
  const int threads = threads_of(pool);
  Partials pw(threads, channels), pb(threads, channels);
  run_tasks(static_cast<int64_t>(images) * groups, pool, [&](int64_t t, int thread) {
    const int img = static_cast<int>(t / groups), g = static_cast<int>(t % groups);
    const size_t base = static_cast<size_t>(img) * channels * hw + g * n;
    const float* xs = x + base;
    const float* gs = dY + base;
    double mean = 0;
    for (size_t i = 0; i < n; ++i) mean += xs[i];
    mean /= static_cast<double>(n);
    double var = 0;
    for (size_t i = 0; i < n; ++i) var += (xs[i] - mean) * (xs[i] - mean);
    var /= static_cast<double>(n);
    const float rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float m = static_cast<float>(mean);
    float* tw = pw.slot(thread);
    float* tb = pb.slot(thread);
    double sum_g = 0, sum_gx = 0;
    for (int c = 0; c < cg; ++c) {
      const int ch = g * cg + c;
      float sw = 0, sb = 0;
      for (int s = 0; s < hw; ++s) {
        const size_t i = static_cast<size_t>(c) * hw + s;
        const float xh = (xs[i] - m) * rstd;
        sw += gs[i] * xh;
        sb += gs[i];
      }
      tw[ch] += sw;
      tb[ch] += sb;
      sum_g += static_cast<double>(sb) * w[ch];
      sum_gx += static_cast<double>(sw) * w[ch];
    }
    if (dX) {
      float* dx = dX + base;
      const float mg = static_cast<float>(sum_g / n), mgx = static_cast<float>(sum_gx / n);
      for (int c = 0; c < cg; ++c) {
        const float wc = w[g * cg + c];
        for (int s = 0; s < hw; ++s) {
          const size_t i = static_cast<size_t>(c) * hw + s;
          dx[i] = rstd * (gs[i] * wc - mg - (xs[i] - m) * rstd * mgx);
        }
      }
    }
  });
  pw.add_to(dw);
  pb.add_to(db);
}

// ── activations ─────────────────────────────────────────────────────────────

namespace {

// e^z for z in [-87, 0] (GELU's e^{-v²/2}): Cody–Waite reduction z = k·ln2 + r,
// degree-6 Taylor polynomial of e^r on |r| <= ln2/2 (relative error < 2e-7),
// 2^k assembled in the exponent bits. Branch-free so it vectorises.
inline float exp_nonpositive(float z) {
  z = std::max(z, -87.0f);
  const float k = std::nearbyint(z * 1.44269504088896341f);
  const float r = (z - k * 0.693145751953125f) - k * 1.428606765330187045e-06f;
  const float p =
      1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f + r * (0.00833333377f + r * 0.00138888892f)))));
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// dX = dY · (Φ(v) + v·φ(v)) with erf(|v|/√2) from Abramowitz & Stegun 7.1.26
// (|error| < 1.5e-7), which shares e^{-v²/2} with φ: one exponential per value.
// Compiled once per ISA (AVX-512, AVX2, baseline) and picked at load time.
JEPA_ISA_CLONES void gelu_backward_span(const float* x, const float* dy,
                                                                                      float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float e = exp_nonpositive(-0.5f * v * v);
    const float a = std::fabs(v) * static_cast<float>(kInvSqrt2);
    const float t = 1.0f / (1.0f + 0.3275911f * a);
    const float poly =
        t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    const float erf_v = std::copysign(1.0f - poly * e, v);
    dx[i] = dy[i] * (0.5f * (1.0f + erf_v) + v * static_cast<float>(kInvSqrt2Pi) * e);
  }
}

}  // namespace

void activation_backward(const float* x, const float* dY, float* dX, int64_t n, Act act, ThreadPool* pool) {
  constexpr int64_t kChunk = 16384;
  const int64_t tasks = (n + kChunk - 1) / kChunk;
  run_tasks(tasks, pool, [&](int64_t t, int) {
    const int64_t i1 = std::min(n, (t + 1) * kChunk);
    if (act == Act::Gelu) {
      gelu_backward_span(x + t * kChunk, dY + t * kChunk, dX + t * kChunk, i1 - t * kChunk);
      return;
    }
    for (int64_t i = t * kChunk; i < i1; ++i) {
      const float v = x[i];
      float d;
      switch (act) {
        case Act::Gelu:
          d = 1.0f;  // handled by gelu_backward_span before the switch
          break;
        case Act::Relu:
          d = v > 0 ? 1.0f : 0.0f;
          break;
        case Act::Tanh: {
          const float th = std::tanh(v);
          d = 1.0f - th * th;
          break;
        }
        case Act::Silu: {
          const float s = 1.0f / (1.0f + std::exp(-v));
          d = s * (1.0f + v * (1.0f - s));
          break;
        }
        default:
          d = 1.0f;
      }
      dX[i] = dY[i] * d;
    }
  });
}

// ── attention ───────────────────────────────────────────────────────────────

void attention_backward(const float* qkv, const float* dout, float* dqkv, int samples, int tokens, int width,
                        int heads, int frame_tokens, ThreadPool* pool) {
  require(samples > 0 && tokens > 0 && heads > 0 && width % heads == 0,
          "attentionBackward: width " + std::to_string(width) + " must be a multiple of heads " +
              std::to_string(heads));
  require(frame_tokens >= 0 && (frame_tokens == 0 || tokens % frame_tokens == 0),
          "attentionBackward: tokens must be a multiple of frameTokens");
  const int hd = width / heads;
  const int ld = 3 * width;
  const int T = tokens;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // Per (sample, head): S = Q·Kᵀ, P = softmax(scale·S) (masked), dP = dO·Vᵀ,
  // dS = scale · P ∘ (dP - rowsum(P ∘ dP)), dQ = dS·K, dK = dSᵀ·Q, dV = Pᵀ·dO.
  // Five GEMMs on strided views of qkv / dqkv (lda = 3·width), each on this thread.
  run_tasks(static_cast<int64_t>(samples) * heads, pool, [&](int64_t task, int) {
    const int s = static_cast<int>(task / heads), h = static_cast<int>(task % heads);
    const float* base = qkv + static_cast<size_t>(s) * T * ld;
    float* dbase = dqkv + static_cast<size_t>(s) * T * ld;
    const float* dob = dout + static_cast<size_t>(s) * T * width + h * hd;
    const float* Q = base + h * hd;
    const float* K = base + width + h * hd;
    const float* V = base + 2 * width + h * hd;
    const size_t tt = static_cast<size_t>(T) * T;
    FloatBuffer P(tt), dP(tt), Tr(tt), packed(std::max(packed_size(T, hd), packed_size(hd, T)));
    // P = softmax(scale · Q Kᵀ) over visible keys.
    pack_b_nk(K, T, hd, ld, packed.data());
    gemm(T, T, hd, Q, ld, packed.data(), nullptr, P.data(), T, false, Act::None, nullptr);
    for (int i = 0; i < T; ++i) {
      float* row = P.data() + static_cast<size_t>(i) * T;
      const int vis = frame_tokens > 0 ? (i / frame_tokens + 1) * frame_tokens : T;
      float mx = -INFINITY;
      for (int j = 0; j < vis; ++j) mx = std::max(mx, row[j] * scale);
      float sum = 0;
      for (int j = 0; j < vis; ++j) {
        row[j] = std::exp(row[j] * scale - mx);
        sum += row[j];
      }
      const float inv = 1.0f / sum;
      for (int j = 0; j < vis; ++j) row[j] *= inv;
      std::fill(row + vis, row + T, 0.0f);
    }
    // dP = dO · Vᵀ; dS (in dP) = scale · P ∘ (dP - Σ_j P dP).
    pack_b_nk(V, T, hd, ld, packed.data());
    gemm(T, T, hd, dob, width, packed.data(), nullptr, dP.data(), T, false, Act::None, nullptr);
    for (int i = 0; i < T; ++i) {
      const float* p = P.data() + static_cast<size_t>(i) * T;
      float* d = dP.data() + static_cast<size_t>(i) * T;
      float dot = 0;
      for (int j = 0; j < T; ++j) dot += p[j] * d[j];
      for (int j = 0; j < T; ++j) d[j] = scale * p[j] * (d[j] - dot);
    }
    // dQ = dS · K   (B = K given as [K = T, N = hd]).
    pack_b_kn(K, T, hd, ld, packed.data());
    gemm(T, hd, T, dP.data(), T, packed.data(), nullptr, dbase + h * hd, ld, false, Act::None, nullptr);
    // dK = dSᵀ · Q.
    transpose(dP.data(), T, T, Tr.data());
    pack_b_kn(Q, T, hd, ld, packed.data());
    gemm(T, hd, T, Tr.data(), T, packed.data(), nullptr, dbase + width + h * hd, ld, false, Act::None, nullptr);
    // dV = Pᵀ · dO.
    transpose(P.data(), T, T, Tr.data());
    pack_b_kn(dob, T, hd, width, packed.data());
    gemm(T, hd, T, Tr.data(), T, packed.data(), nullptr, dbase + 2 * width + h * hd, ld, false, Act::None, nullptr);
  });
}

// ── conv2d ──────────────────────────────────────────────────────────────────

namespace {

struct ConvGeom {
  int C, H, W, Cout, k, stride, pad, Ho, Wo;
  int ckk() const { return C * k * k; }
  int hw() const { return Ho * Wo; }
};

ConvGeom conv_geom(const char* op, int channels, int height, int width, int out_channels, int kernel, int stride,
                   int padding) {
  require(channels > 0 && height > 0 && width > 0 && out_channels > 0 && kernel > 0 && stride > 0 && padding >= 0,
          std::string(op) + ": sizes must be positive (padding >= 0)");
  ConvGeom g{channels, height, width, out_channels, kernel, stride, padding,
             conv_out(height, kernel, stride, padding), conv_out(width, kernel, stride, padding)};
  require(g.Ho > 0 && g.Wo > 0, std::string(op) + ": kernel " + std::to_string(kernel) + " leaves no output for a " +
                                    std::to_string(height) + "x" + std::to_string(width) + " input");
  return g;
}

}  // namespace

void conv2d_forward(const float* x, const float* W, const float* b, float* y, int images, int channels, int height,
                    int width, int out_channels, int kernel, int stride, int padding, ThreadPool* pool) {
  const ConvGeom g = conv_geom("conv2d", channels, height, width, out_channels, kernel, stride, padding);
  require(images > 0, "conv2d: images must be positive");
  const bool per_image = pool && images >= pool->size();
  run_tasks(images, per_image ? pool : nullptr, [&](int64_t img, int) {
    FloatBuffer cols(static_cast<size_t>(g.ckk()) * g.hw());
    im2col(x + static_cast<size_t>(img) * g.C * g.H * g.W, g.C, g.H, g.W, g.k, g.stride, g.pad, g.Ho, g.Wo,
           cols.data());
    FloatBuffer packed(packed_size(g.hw(), g.ckk()));
    pack_b_kn(cols.data(), g.ckk(), g.hw(), g.hw(), packed.data());
    float* out = y + static_cast<size_t>(img) * g.Cout * g.hw();
    gemm(g.Cout, g.hw(), g.ckk(), W, g.ckk(), packed.data(), nullptr, out, g.hw(), false, Act::None,
         per_image ? nullptr : pool);
    if (b)
      for (int o = 0; o < g.Cout; ++o)
        for (int i = 0; i < g.hw(); ++i) out[static_cast<size_t>(o) * g.hw() + i] += b[o];
  });
}

void conv2d_backward(const float* x, const float* W, const float* dY, float* dX, float* dW, float* db, int images,
                     int channels, int height, int width, int out_channels, int kernel, int stride, int padding,
                     ThreadPool* pool) {
  const ConvGeom g = conv_geom("conv2dBackward", channels, height, width, out_channels, kernel, stride, padding);
  require(images > 0, "conv2dBackward: images must be positive");
  const bool per_image = pool && images >= pool->size();
  ThreadPool* inner = per_image ? nullptr : pool;
  const int threads = per_image ? pool->size() : 1;
  Partials pw(threads, static_cast<size_t>(g.Cout) * g.ckk()), pb(threads, g.Cout);
  FloatBuffer wt(static_cast<size_t>(g.ckk()) * g.Cout);  // Wᵀ [C·k·k, Cout]
  transpose(W, g.Cout, g.ckk(), wt.data());
  run_tasks(images, per_image ? pool : nullptr, [&](int64_t img, int thread) {
    const float* xi = x + static_cast<size_t>(img) * g.C * g.H * g.W;
    const float* gy = dY + static_cast<size_t>(img) * g.Cout * g.hw();
    FloatBuffer cols(static_cast<size_t>(g.ckk()) * g.hw());
    if (dW) {
      im2col(xi, g.C, g.H, g.W, g.k, g.stride, g.pad, g.Ho, g.Wo, cols.data());
      // dW[Cout, Ckk] += dY[Cout, HW] · colsᵀ: Cout·Ckk dot products over the output pixels.
      dot_gemm(g.Cout, g.ckk(), g.hw(), gy, g.hw(), cols.data(), g.hw(), pw.slot(thread), g.ckk());
    }
    float* tb = pb.slot(thread);
    for (int o = 0; o < g.Cout; ++o) {
      float s = 0;
      for (int i = 0; i < g.hw(); ++i) s += gy[static_cast<size_t>(o) * g.hw() + i];
      tb[o] += s;
    }
    if (dX) {
      // dCols[Ckk, HW] = Wᵀ[Ckk, Cout] · dY[Cout, HW]: B = dY given as [K = Cout, N = HW].
      FloatBuffer packed(packed_size(g.hw(), g.Cout));
      pack_b_kn(gy, g.Cout, g.hw(), g.hw(), packed.data());
      gemm(g.ckk(), g.hw(), g.Cout, wt.data(), g.Cout, packed.data(), nullptr, cols.data(), g.hw(), false, Act::None,
           inner);
      float* dxi = dX + static_cast<size_t>(img) * g.C * g.H * g.W;
      std::fill(dxi, dxi + static_cast<size_t>(g.C) * g.H * g.W, 0.0f);
      col2im_add(cols.data(), g.C, g.H, g.W, g.k, g.stride, g.pad, g.Ho, g.Wo, dxi);
    }
  });
  pw.add_to(dW);
  pb.add_to(db);
}

}  // namespace jepa
