// AVX2/FMA kernels: 6×16 GEMM micro-kernel (12 ymm accumulators) and the
// vector row ops from vec_impl.inc at 8 lanes. Built with -mavx2 -mfma;
// only called when the CPU reports AVX2 and FMA.
#include <immintrin.h>

#include "kernels.h"

namespace jepa::cpu {
namespace avx2 {

typedef float vf __attribute__((vector_size(32)));
typedef int vi __attribute__((vector_size(32)));
constexpr int kLanes = 8;
static inline vf vrcp(vf x) {
  vf r = (vf)_mm256_rcp_ps((__m256)x);
  r = r * (vf{} + 2.f - x * r);
  return r * (vf{} + 2.f - x * r);
}
#include "vec_impl.inc"

constexpr int MR = 6;
constexpr int NR = 16;

static inline __m256i lane_mask(int n) {
  alignas(32) static const int ramp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_load_si256(reinterpret_cast<const __m256i*>(ramp)));
}

template <int R>
__attribute__((always_inline)) inline void tile(int kc, const float* A, int lda, const float* B, float* C, int ldc,
                                                int ncols, bool load_c, const float* bias) {
  const __m256i m0 = lane_mask(ncols);
  const __m256i m1 = lane_mask(ncols - 8);
  __m256 c0[R], c1[R];
  const __m256 b0 = bias ? _mm256_maskload_ps(bias, m0) : _mm256_setzero_ps();
  const __m256 b1 = bias ? _mm256_maskload_ps(bias + 8, m1) : _mm256_setzero_ps();
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) {
    c0[i] = load_c ? _mm256_add_ps(_mm256_maskload_ps(C + i * ldc, m0), b0) : b0;
    c1[i] = load_c ? _mm256_add_ps(_mm256_maskload_ps(C + i * ldc + 8, m1), b1) : b1;
  }
  const float* a = A;
  for (int k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(B);
    const __m256 b1 = _mm256_load_ps(B + 8);
    B += NR;
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i * lda);
      c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
    }
    ++a;
  }
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) {
    _mm256_maskstore_ps(C + i * ldc, m0, c0[i]);
    _mm256_maskstore_ps(C + i * ldc + 8, m1, c1[i]);
  }
}

void micro(int mr, int kc, const float* A, int lda, const float* B, float* C, int ldc, int ncols, bool load_c,
           const float* bias) {
  switch (mr) {
    case 6: tile<6>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 5: tile<5>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 4: tile<4>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 3: tile<3>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 2: tile<2>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    default: tile<1>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
  }
}

}  // namespace avx2

const KernelTable* avx2_table() {
  static const KernelTable table{Isa::Avx2,           avx2::MR,           avx2::NR,
                                 avx2::micro,         avx2::activate_impl, avx2::layernorm_row_impl,
                                 avx2::softmax_row_impl};
  return &table;
}

}  // namespace jepa::cpu
