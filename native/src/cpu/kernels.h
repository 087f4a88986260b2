// Internal: the per-ISA kernel tables (GEMM micro-kernel + vector row ops).
// Each *_avx512.cc / *_avx2.cc file is compiled with its own ISA flags and
// fills one table; kernels.cc picks the table once at run time.
#pragma once

#include <cstdint>

#include "jepa/gemm.h"

namespace jepa::cpu {

// C[mr, ncols] = (load_c ? C : 0) + (bias or 0) + A[mr, kc] · Bp[kc, nr]
// A row-major with stride lda; Bp one packed panel slice (kc rows of nr).
using MicroKernel = void (*)(int mr, int kc, const float* A, int lda, const float* Bp, float* C, int ldc,
                             int ncols, bool load_c, const float* bias);

struct KernelTable {
  Isa isa;
  int mr;
  int nr;
  MicroKernel gemm;
  // In place activation over n floats.
  void (*activate)(float* x, int64_t n, Act act);
  // One row of LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b.
  void (*layernorm_row)(const float* x, float* y, int n, const float* w, const float* b, float eps);
  // In place softmax of scale * x over n values.
  void (*softmax_row)(float* x, int n, float scale);
};

const KernelTable& scalar_table();
const KernelTable* avx2_table();    // null when not compiled in
const KernelTable* avx512_table();  // null when not compiled in
const KernelTable& table_for(Isa isa);
const KernelTable& active_table();

}  // namespace jepa::cpu
