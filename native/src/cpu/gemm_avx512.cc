// AVX-512 kernels: 12×32 GEMM micro-kernel (24 zmm accumulators) and the
// vector row ops from vec_impl.inc at 16 lanes. Built with AVX-512 flags;
// only called when the CPU reports AVX-512F.
#include <immintrin.h>

#include "kernels.h"

namespace jepa::cpu {
namespace avx512 {

typedef float vf __attribute__((vector_size(64)));
typedef int vi __attribute__((vector_size(64)));
constexpr int kLanes = 16;
static inline vf vrcp(vf x) {
  const vf r = (vf)_mm512_maskz_rcp14_ps(0xFFFF, (__m512)x);
  return r * (vf{} + 2.f - x * r);
}
#include "vec_impl.inc"

constexpr int MR = 12;
constexpr int NR = 32;

template <int R>
__attribute__((always_inline)) inline void tile(int kc, const float* A, int lda, const float* B, float* C, int ldc,
                                                int ncols, bool load_c, const float* bias) {
  const __mmask16 m0 = ncols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << ncols) - 1);
  const __mmask16 m1 =
      ncols >= 32 ? 0xFFFF : ncols <= 16 ? 0 : static_cast<__mmask16>((1u << (ncols - 16)) - 1);
  __m512 c0[R], c1[R];
  const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i) {
    c0[i] = load_c ? _mm512_add_ps(_mm512_maskz_loadu_ps(m0, C + i * ldc), b0) : b0;
    c1[i] = load_c ? _mm512_add_ps(_mm512_maskz_loadu_ps(m1, C + i * ldc + 16), b1) : b1;
  }
  const float* a = A;
  for (int k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(B);
    const __m512 b1 = _mm512_load_ps(B + 16);
    B += NR;
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(a[i * lda]);
      c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
    }
    ++a;
  }
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i) {
    _mm512_mask_storeu_ps(C + i * ldc, m0, c0[i]);
    _mm512_mask_storeu_ps(C + i * ldc + 16, m1, c1[i]);
  }
}

void micro(int mr, int kc, const float* A, int lda, const float* B, float* C, int ldc, int ncols, bool load_c,
           const float* bias) {
  switch (mr) {
    case 12: tile<12>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 11: tile<11>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 10: tile<10>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 9: tile<9>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 8: tile<8>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 7: tile<7>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 6: tile<6>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 5: tile<5>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 4: tile<4>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 3: tile<3>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    case 2: tile<2>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
    default: tile<1>(kc, A, lda, B, C, ldc, ncols, load_c, bias); break;
  }
}

}  // namespace avx512

const KernelTable* avx512_table() {
  static const KernelTable table{Isa::Avx512,          avx512::MR,         avx512::NR,
                                 avx512::micro,        avx512::activate_impl, avx512::layernorm_row_impl,
                                 avx512::softmax_row_impl};
  return &table;
}

}  // namespace jepa::cpu
