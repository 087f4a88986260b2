// Opt-in BF16 GEMM on AMX tiles (jepa/gemm.h): 32×32 output blocks held in
// four tile accumulators, A rows and packed weight panels streamed through
// four more tiles. Built with AMX flags; entered only after
// amx_bf16_supported() (CPU flags + the Linux permission for tile state).
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "jepa/thread_pool.h"
#include "kernels.h"

namespace jepa {

namespace {

constexpr long kArchReqXcompPerm = 0x1023;
constexpr long kXfeatureXtiledata = 18;

struct TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

inline uint16_t to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7FFFu + ((bits >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

}  // namespace

bool amx_bf16_supported() {
  static const bool ok = [] {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("amx-bf16") || !__builtin_cpu_supports("amx-tile")) return false;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ok;
}

void pack_linear_amx(PackedLinearAmx& dst, const float* W, const float* bias, int out, int in, const float* row_scale) {
  dst.in = in;
  dst.out = out;
  dst.kblocks = (in + 31) / 32;
  dst.panel_pairs = (out + 31) / 32;
  const int panels = 2 * dst.panel_pairs, KB = dst.kblocks;
  dst.packed.assign(static_cast<size_t>(panels) * KB * 512, 0);
  for (int n = 0; n < out; ++n) {
    const int p = n / 16, j = n % 16;
    const float scale = row_scale ? row_scale[n] : 1.f;
    for (int k = 0; k < in; ++k) {
      const int kb = k / 32, r = (k % 32) / 2, s = k & 1;
      dst.packed[((static_cast<size_t>(p) * KB + kb) * 16 + r) * 32 + j * 2 + s] =
          to_bf16(W[static_cast<size_t>(n) * in + k] * scale);
    }
  }
  dst.bias.clear();
  if (bias) {
    dst.bias.resize(out);
    for (int n = 0; n < out; ++n) dst.bias[n] = bias[n] * (row_scale ? row_scale[n] : 1.f);
  }
}

namespace {

// Rows [r0, r1) of the bf16 copy of A ([Mp, Kp], zero K padding, zero padding rows).
void convert_rows(const PackedLinearAmx& L, int M, const float* A, int lda, uint16_t* abuf, int Kp, int r0, int r1) {
  for (int i = r0; i < r1; ++i) {
    uint16_t* d = abuf + static_cast<size_t>(i) * Kp;
    if (i >= M) {
      std::fill(d, d + Kp, 0);
      continue;
    }
    const float* s = A + static_cast<size_t>(i) * lda;
    int k = 0;
    for (; k + 32 <= L.in; k += 32) {
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + k + 16), _mm512_loadu_ps(s + k));
      _mm512_storeu_si512(d + k, (__m512i)v);
    }
    for (; k < L.in; ++k) d[k] = to_bf16(s[k]);
    std::fill(d + L.in, d + Kp, 0);
  }
}

// Output blocks of 32 rows [mb0, mb1) × panel pairs [pp0, pp1), on the calling thread.
void amx_blocks(const PackedLinearAmx& L, int M, const uint16_t* abuf, int Kp, float* C, int ldc, bool accumulate,
                Act act, int mb0, int mb1, int pp0, int pp1) {
  const int KB = L.kblocks;
  TileConfig cfg{};
  cfg.palette = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
  alignas(64) float block[32 * 32];
  const auto& kt = cpu::active_table();
  const uint16_t* Bp = L.packed.data();
  for (int pp = pp0; pp < pp1; ++pp) {
    const uint16_t* b0 = Bp + static_cast<size_t>(2 * pp) * KB * 512;
    const uint16_t* b1 = b0 + static_cast<size_t>(KB) * 512;
    const int n0 = pp * 32, ncols = std::min(32, L.out - n0);
    for (int mb = mb0; mb < mb1; ++mb) {
      const int m0 = mb * 32;
      const uint16_t* a0 = abuf + static_cast<size_t>(m0) * Kp;
      const uint16_t* a1 = a0 + static_cast<size_t>(16) * Kp;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int kb = 0; kb < KB; ++kb) {
        _tile_loadd(4, a0 + kb * 32, Kp * 2);
        _tile_loadd(5, a1 + kb * 32, Kp * 2);
        _tile_loadd(6, b0 + static_cast<size_t>(kb) * 512, 64);
        _tile_loadd(7, b1 + static_cast<size_t>(kb) * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, block, 128);
      _tile_stored(1, block + 16, 128);
      _tile_stored(2, block + 16 * 32, 128);
      _tile_stored(3, block + 16 * 32 + 16, 128);
      const int rows = std::min(32, M - m0);
      const __mmask16 k0 = ncols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << ncols) - 1);
      const __mmask16 k1 = ncols >= 32 ? 0xFFFF : ncols <= 16 ? 0 : static_cast<__mmask16>((1u << (ncols - 16)) - 1);
      const float* bias = L.bias.empty() ? nullptr : L.bias.data() + n0;
      const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(k0, bias) : _mm512_setzero_ps();
      const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(k1, bias + 16) : _mm512_setzero_ps();
      for (int i = 0; i < rows; ++i) {
        float* c = C + static_cast<size_t>(m0 + i) * ldc + n0;
        __m512 v0 = _mm512_add_ps(_mm512_load_ps(block + i * 32), bias0);
        __m512 v1 = _mm512_add_ps(_mm512_load_ps(block + i * 32 + 16), bias1);
        if (accumulate) {
          v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(k0, c));
          v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(k1, c + 16));
        }
        _mm512_mask_storeu_ps(c, k0, v0);
        _mm512_mask_storeu_ps(c + 16, k1, v1);
        if (act != Act::None) kt.activate(c, ncols, act);
      }
    }
  }
  _tile_release();
}

}  // namespace

void linear_amx(const PackedLinearAmx& L, int M, const float* A, int lda, float* C, int ldc, bool accumulate, Act act,
                ThreadPool* pool) {
  if (M <= 0 || L.out <= 0) return;
  const int KB = L.kblocks, Kp = KB * 32, Mp = (M + 31) / 32 * 32, MB = Mp / 32, PP = L.panel_pairs;
  thread_local std::vector<uint16_t> abuf;
  abuf.resize(static_cast<size_t>(Mp) * Kp);
  uint16_t* ab = abuf.data();
  const int threads = pool ? pool->size() : 1;
  const double flops = 2.0 * M * L.in * L.out;
  if (threads <= 1 || MB * PP < 2 || flops < 2e6) {
    convert_rows(L, M, A, lda, ab, Kp, 0, Mp);
    amx_blocks(L, M, ab, Kp, C, ldc, accumulate, act, 0, MB, 0, PP);
    return;
  }
  pool->parallel_for(MB, [&](int64_t mb, int) {
    convert_rows(L, M, A, lda, ab, Kp, static_cast<int>(mb) * 32, static_cast<int>(mb + 1) * 32);
  });
  // About four tasks per thread: each one panel pair over a run of row blocks
  // (the weight panel stays in L1/L2 while the rows stream through).
  const int groups = std::min(MB, std::max(1, (4 * threads + PP - 1) / PP));
  const int per = (MB + groups - 1) / groups;
  const int mgroups = (MB + per - 1) / per;
  pool->parallel_for(static_cast<int64_t>(mgroups) * PP, [&](int64_t task, int) {
    const int pp = static_cast<int>(task % PP), g = static_cast<int>(task / PP);
    amx_blocks(L, M, ab, Kp, C, ldc, accumulate, act, g * per, std::min(MB, (g + 1) * per), pp, pp + 1);
  });
}

}  // namespace jepa
