// GEMM driver (tiling, threading, epilogue), weight packing, the portable
// kernel table and run-time ISA selection. Micro-kernels live in
// gemm_avx512.cc / gemm_avx2.cc.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "jepa/thread_pool.h"
#include "kernels.h"

namespace jepa {

void FloatBuffer::Free::operator()(float* p) const { std::free(p); }

void FloatBuffer::resize(size_t n) {
  if (n == 0) {
    ptr_.reset();
    size_ = 0;
    return;
  }
  size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  ptr_.reset(static_cast<float*>(p));
  size_ = n;
}

namespace cpu {
namespace portable {

typedef float vf __attribute__((vector_size(16)));
typedef int vi __attribute__((vector_size(16)));
constexpr int kLanes = 4;
static inline vf vrcp(vf x) { return (vf{} + 1.f) / x; }
#include "vec_impl.inc"

constexpr int MR = 4;
constexpr int NR = 16;

void micro(int mr, int kc, const float* A, int lda, const float* B, float* C, int ldc, int ncols, bool load_c,
           const float* bias) {
  float acc[MR][NR];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < NR; ++j)
      acc[i][j] = (load_c && j < ncols ? C[i * ldc + j] : 0.f) + (bias && j < ncols ? bias[j] : 0.f);
  for (int k = 0; k < kc; ++k) {
    const float* b = B + k * NR;
    for (int i = 0; i < mr; ++i) {
      const float a = A[i * lda + k];
      for (int j = 0; j < NR; ++j) acc[i][j] += a * b[j];
    }
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < ncols; ++j) C[i * ldc + j] = acc[i][j];
}

}  // namespace portable

const KernelTable& scalar_table() {
  static const KernelTable table{Isa::Scalar,         portable::MR,         portable::NR,
                                 portable::micro,     portable::activate_impl, portable::layernorm_row_impl,
                                 portable::softmax_row_impl};
  return table;
}

const KernelTable& table_for(Isa isa) {
  if (isa == Isa::Avx512 && avx512_table()) return *avx512_table();
  if (isa >= Isa::Avx2 && avx2_table()) return *avx2_table();
  return scalar_table();
}

static std::atomic<int> g_active{-1};

const KernelTable& active_table() { return table_for(active_isa()); }

}  // namespace cpu

Isa detected_isa() {
  static const Isa isa = [] {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
      return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
    return Isa::Scalar;
  }();
  return isa;
}

Isa active_isa() {
  int v = cpu::g_active.load(std::memory_order_relaxed);
  if (v >= 0) return static_cast<Isa>(v);
  Isa isa = detected_isa();
  // JEPA_ISA=scalar|avx2 lowers the kernels (for testing the fallbacks).
  if (const char* env = std::getenv("JEPA_ISA")) {
    if (std::strcmp(env, "scalar") == 0) isa = Isa::Scalar;
    else if (std::strcmp(env, "avx2") == 0 && isa >= Isa::Avx2) isa = Isa::Avx2;
  }
  cpu::g_active.store(static_cast<int>(isa), std::memory_order_relaxed);
  return isa;
}

void force_isa(Isa isa) {
  if (isa > detected_isa()) isa = detected_isa();
  cpu::g_active.store(static_cast<int>(isa), std::memory_order_relaxed);
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

int gemm_nr() { return cpu::active_table().nr; }

static inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

size_t packed_size(int N, int K) {
  const int nr = gemm_nr();
  return static_cast<size_t>(ceil_div(N, nr)) * nr * static_cast<size_t>(std::max(K, 1));
}

void pack_b_nk(const float* B, int N, int K, int ldb, float* out) {
  const int nr = gemm_nr();
  const int panels = ceil_div(N, nr);
  for (int p = 0; p < panels; ++p) {
    float* dst = out + static_cast<size_t>(p) * K * nr;
    for (int j = 0; j < nr; ++j) {
      const int n = p * nr + j;
      if (n < N) {
        const float* src = B + static_cast<size_t>(n) * ldb;
        for (int k = 0; k < K; ++k) dst[k * nr + j] = src[k];
      } else {
        for (int k = 0; k < K; ++k) dst[k * nr + j] = 0.f;
      }
    }
  }
}

void pack_b_kn(const float* B, int K, int N, int ldb, float* out) {
  const int nr = gemm_nr();
  const int panels = ceil_div(N, nr);
  for (int p = 0; p < panels; ++p) {
    float* dst = out + static_cast<size_t>(p) * K * nr;
    const int n0 = p * nr;
    const int w = std::min(nr, N - n0);
    for (int k = 0; k < K; ++k) {
      const float* src = B + static_cast<size_t>(k) * ldb + n0;
      float* d = dst + static_cast<size_t>(k) * nr;
      std::memcpy(d, src, w * sizeof(float));
      for (int j = w; j < nr; ++j) d[j] = 0.f;
    }
  }
}

void pack_linear(PackedLinear& dst, const float* W, const float* bias, int out, int in, const float* row_scale) {
  dst.in = in;
  dst.out = out;
  dst.packed.resize(packed_size(out, in));
  if (row_scale) {
    std::vector<float> scaled(static_cast<size_t>(out) * in);
    for (int o = 0; o < out; ++o)
      for (int i = 0; i < in; ++i) scaled[static_cast<size_t>(o) * in + i] = W[static_cast<size_t>(o) * in + i] * row_scale[o];
    pack_b_nk(scaled.data(), out, in, in, dst.packed.data());
  } else {
    pack_b_nk(W, out, in, in, dst.packed.data());
  }
  dst.bias.clear();
  if (bias) {
    dst.bias.assign(bias, bias + out);
    if (row_scale)
      for (int o = 0; o < out; ++o) dst.bias[o] *= row_scale[o];
  }
}

namespace {

constexpr int kKc = 256;

void run_tile(const cpu::KernelTable& kt, int m0, int m1, int p0, int p1, int N, int K, const float* A, int lda,
              const float* Bp, const float* bias, float* C, int ldc, bool accumulate, Act act) {
  const int nr = kt.nr, mr = kt.mr;
  for (int k0 = 0; k0 < K; k0 += kKc) {
    const int kc = std::min(kKc, K - k0);
    const bool first = k0 == 0;
    for (int p = p0; p < p1; ++p) {
      const int ncols = std::min(nr, N - p * nr);
      const float* Bs = Bp + static_cast<size_t>(p) * K * nr + static_cast<size_t>(k0) * nr;
      const float* bs = first && bias ? bias + p * nr : nullptr;
      for (int i = m0; i < m1; i += mr) {
        const int r = std::min(mr, m1 - i);
        kt.gemm(r, kc, A + static_cast<size_t>(i) * lda + k0, lda, Bs, C + static_cast<size_t>(i) * ldc + p * nr, ldc,
                ncols, first ? accumulate : true, bs);
      }
    }
  }
  if (act != Act::None) {
    const int n0 = p0 * nr, n1 = std::min(N, p1 * nr);
    for (int i = m0; i < m1; ++i) kt.activate(C + static_cast<size_t>(i) * ldc + n0, n1 - n0, act);
  }
}

}  // namespace

void gemm(int M, int N, int K, const float* A, int lda, const float* Bp, const float* bias, float* C, int ldc,
          bool accumulate, Act act, ThreadPool* pool) {
  if (M <= 0 || N <= 0) return;
  const cpu::KernelTable& kt = cpu::active_table();
  if (K <= 0) {
    for (int i = 0; i < M; ++i) {
      float* c = C + static_cast<size_t>(i) * ldc;
      for (int j = 0; j < N; ++j) c[j] = (accumulate ? c[j] : 0.f) + (bias ? bias[j] : 0.f);
      kt.activate(c, N, act);
    }
    return;
  }
  const int panels = ceil_div(N, kt.nr);
  const int threads = pool ? pool->size() : 1;
  // Tile: up to 8 micro-rows × 4 panels; shrink so every thread gets work.
  int mt = kt.mr * 8;
  int pt = 4;
  if (threads > 1) {
    while (static_cast<int64_t>(ceil_div(M, mt)) * ceil_div(panels, pt) < 8 * threads && (mt > kt.mr || pt > 1)) {
      if (pt > 1) pt /= 2;
      else mt -= kt.mr;
    }
  }
  const int mtiles = ceil_div(M, mt), ptiles = ceil_div(panels, pt);
  const int64_t tasks = static_cast<int64_t>(mtiles) * ptiles;
  auto body = [&](int64_t t, int) {
    const int ti = static_cast<int>(t % mtiles), tp = static_cast<int>(t / mtiles);
    const int m0 = ti * mt, m1 = std::min(M, m0 + mt);
    const int p0 = tp * pt, p1 = std::min(panels, p0 + pt);
    run_tile(kt, m0, m1, p0, p1, N, K, A, lda, Bp, bias, C, ldc, accumulate, act);
  };
  if (pool && threads > 1 && tasks > 1) {
    pool->parallel_for(tasks, body);
  } else {
    for (int64_t t = 0; t < tasks; ++t) body(t, 0);
  }
}

}  // namespace jepa
