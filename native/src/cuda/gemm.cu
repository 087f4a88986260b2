// Tensor-core GEMM of the CUDA backend: y = epilogue(x · W^T) with bf16
// operands and fp32 accumulation through WMMA (16×16×16 fragments, sm_80+).
// x is fp32 in global memory and is rounded to bf16 while it is staged in
// shared memory; W comes pre-converted (DLinear::w16). Tiles of 64×64×32,
// 4 warps each owning 32×32 of the output. Any M, N, K (edges zero-padded);
// the epilogue fuses bias, activation, layer-scale gamma and residual add.
#include <mma.h>

#include "cuda/kernels.cuh"

namespace jepa::cuda {

namespace {

constexpr int BM = 64, BN = 64, BK = 32;
constexpr int LDS = BK + 8;   // bf16 row pitch of the staged tiles (multiple of 8 for WMMA)
constexpr int LDC = BN + 4;   // fp32 pitch of the output staging tile
constexpr int THREADS = 128;

__global__ void __launch_bounds__(THREADS) gemmKernel(const float* __restrict__ x, int ldx, int M, int K,
                                                      const __nv_bfloat16* __restrict__ w,
                                                      const float* __restrict__ bias, int N, float* y, int ldy,
                                                      Epilogue ep) {
  using namespace nvcuda;
  __shared__ __align__(128) __nv_bfloat16 As[BM * LDS];
  __shared__ __align__(128) __nv_bfloat16 Bs[BN * LDS];
  __shared__ __align__(128) float Cs[BM * LDC];

  // Column tiles vary fastest, so the blocks resident at one time share their
  // rows of x (read from HBM once, then from L2) and stream through W.
  const int n0 = blockIdx.x * BN;
  const int m0 = blockIdx.y * BM;
  const int warp = threadIdx.x / 32;
  const int wm = (warp / 2) * 32;
  const int wn = (warp % 2) * 32;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int k0 = 0; k0 < K; k0 += BK) {
    // Stage x (fp32 → bf16) and W tiles; each thread moves 16 elements of each, k fastest (coalesced).
    for (int e = threadIdx.x; e < BM * BK; e += THREADS) {
      const int r = e / BK, c = e % BK;
      const int gm = m0 + r, gk = k0 + c;
      const float v = (gm < M && gk < K) ? x[static_cast<long long>(gm) * ldx + gk] : 0.0f;
      As[r * LDS + c] = __float2bfloat16(v);
    }
    for (int e = threadIdx.x; e < BN * BK; e += THREADS) {
      const int r = e / BK, c = e % BK;
      const int gn = n0 + r, gk = k0 + c;
      Bs[r * LDS + c] = (gn < N && gk < K) ? w[static_cast<long long>(gn) * K + gk] : __float2bfloat16(0.0f);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], As + (wm + i * 16) * LDS + kk, LDS);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], Bs + (wn + j * 16) * LDS + kk, LDS);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(Cs + (wm + i * 16) * LDC + wn + j * 16, acc[i][j], LDC, wmma::mem_row_major);
  __syncthreads();

  for (int e = threadIdx.x; e < BM * BN; e += THREADS) {
    const int r = e / BN, c = e % BN;
    const int gm = m0 + r, gn = n0 + c;
    if (gm >= M || gn >= N) continue;
    float v = Cs[r * LDC + c];
    if (bias) v += bias[gn];
    v = activate(v, ep.act);
    if (ep.gamma) v *= ep.gamma[gn];
    if (ep.residual) v += ep.residual[static_cast<long long>(gm) * ep.ldr + gn];
    y[static_cast<long long>(gm) * ldy + gn] = v;
  }
}

}  // namespace

void gemm(const float* x, int ldx, int M, const DLinear& L, float* y, int ldy, const Epilogue& ep, cudaStream_t s) {
  require(M > 0 && L.in > 0 && L.out > 0, "gemm: M, K and N must be positive (got M " + std::to_string(M) + ", K " +
                                              std::to_string(L.in) + ", N " + std::to_string(L.out) + ")");
  require(x && y && L.w16, "gemm: null input, output or weight pointer");
  require(ldx >= L.in, "gemm: input row stride " + std::to_string(ldx) + " is smaller than K " + std::to_string(L.in));
  require(ldy >= L.out, "gemm: output row stride " + std::to_string(ldy) + " is smaller than N " + std::to_string(L.out));
  require(!ep.residual || ep.ldr >= L.out, "gemm: residual row stride " + std::to_string(ep.ldr) + " is smaller than N");
  dim3 grid(ceilDiv(L.out, BN), ceilDiv(M, BM));
  require(grid.y <= 65535u, "gemm: M " + std::to_string(M) + " exceeds 65535 row tiles (" + std::to_string(65535 * BM) +
                                " rows); split the batch");
  gemmKernel<<<grid, THREADS, 0, s>>>(x, ldx, M, L.in, L.w16, L.b, L.out, y, ldy, ep);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace jepa::cuda
