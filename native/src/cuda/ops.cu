// Element-wise and reduction kernels of the CUDA backend (mirror of
// native/src/cpu/ops.cc): LayerNorm, GroupNorm+activation, frame-causal
// multi-head attention (single pass, online softmax, fp32), the conv helpers
// (im2col, layout transpose, channel normalisation, mean pool) and the
// rollout energy terms. All launchers check their arguments first.
#include <cfloat>
#include <mutex>

#include "cuda/kernels.cuh"

namespace jepa::cuda {

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a sticky-free error so later calls start clean
  throw CudaError(std::string(what) + " failed: " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
}

namespace {

// ── LayerNorm: one warp per row ──────────────────────────────────────────────
__global__ void layerNormKernel(const float* x, int ldx, int rows, int C, const float* w, const float* b, float eps,
                                float* y, int ldy, Act act) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* xr = x + static_cast<long long>(row) * ldx;
  float s = 0.f;
  for (int c = lane; c < C; c += 32) s += xr[c];
  const float mean = warpSum(s) / C;
  float v = 0.f;
  for (int c = lane; c < C; c += 32) {
    const float d = xr[c] - mean;
    v += d * d;
  }
  const float inv = rsqrtf(warpSum(v) / C + eps);
  float* yr = y + static_cast<long long>(row) * ldy;
  for (int c = lane; c < C; c += 32) {
    float o = (xr[c] - mean) * inv;
    if (w) o = o * w[c] + b[c];
    yr[c] = activate(o, act);
  }
}

// ── Attention: block = (32-query tile, head, batch), 8 warps × 4 queries ─────
constexpr int ATT_Q = 32, ATT_K = 32, ATT_MAXR = 4;  // head dim <= 32 · ATT_MAXR

__global__ void attentionKernel(const float* __restrict__ qkv, int T, int W, int heads, int tpf,
                                float* __restrict__ out) {
  extern __shared__ float sm[];
  const int hd = W / heads;
  const int pitch = hd + 1;
  float* Qs = sm;                 // [ATT_Q][pitch]
  float* Ks = Qs + ATT_Q * pitch;  // [ATT_K][pitch]
  float* Vs = Ks + ATT_K * pitch;  // [ATT_K][pitch]
  const int q0 = blockIdx.x * ATT_Q;
  const int h = blockIdx.y;
  const long long base = static_cast<long long>(blockIdx.z) * T * 3 * W;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float scale = rsqrtf(static_cast<float>(hd));

  for (int e = threadIdx.x; e < ATT_Q * hd; e += blockDim.x) {
    const int r = e / hd, c = e % hd;
    const int t = q0 + r;
    Qs[r * pitch + c] = t < T ? qkv[base + static_cast<long long>(t) * 3 * W + h * hd + c] * scale : 0.f;
  }
  float m[4], l[4], acc[4][ATT_MAXR];
#pragma unroll
  for (int qi = 0; qi < 4; ++qi) {
    m[qi] = -FLT_MAX;
    l[qi] = 0.f;
#pragma unroll
    for (int r = 0; r < ATT_MAXR; ++r) acc[qi][r] = 0.f;
  }
  const int lastQ = min(q0 + ATT_Q, T) - 1;
  const int keyEnd = tpf > 0 ? min(T, (lastQ / tpf + 1) * tpf) : T;
  for (int k0 = 0; k0 < keyEnd; k0 += ATT_K) {
    __syncthreads();
    for (int e = threadIdx.x; e < ATT_K * hd; e += blockDim.x) {
      const int r = e / hd, c = e % hd;
      const int t = k0 + r;
      const long long row = base + static_cast<long long>(t) * 3 * W + h * hd + c;
      Ks[r * pitch + c] = t < T ? qkv[row + W] : 0.f;
      Vs[r * pitch + c] = t < T ? qkv[row + 2 * W] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int qi = 0; qi < 4; ++qi) {
      const int qr = warp * 4 + qi;
      const int tq = q0 + qr;
      if (tq >= T) continue;
      const int key = k0 + lane;
      bool ok = key < T && (tpf <= 0 || key / tpf <= tq / tpf);
      float sc = -FLT_MAX;
      if (ok) {
        float d = 0.f;
#pragma unroll 4
        for (int c = 0; c < hd; ++c) d += Qs[qr * pitch + c] * Ks[lane * pitch + c];
        sc = d;
      }
      const float mt = warpMax(sc);
      if (mt == -FLT_MAX) continue;  // every key of this tile is masked for this query
      const float mNew = fmaxf(m[qi], mt);
      const float p = ok ? __expf(sc - mNew) : 0.f;
      const float corr = __expf(m[qi] - mNew);
      l[qi] = l[qi] * corr + warpSum(p);
      m[qi] = mNew;
#pragma unroll
      for (int r = 0; r < ATT_MAXR; ++r) acc[qi][r] *= corr;
#pragma unroll 4
      for (int j = 0; j < ATT_K; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
        if (pj == 0.f) continue;
#pragma unroll
        for (int r = 0; r < ATT_MAXR; ++r) {
          const int c = lane + 32 * r;
          if (c < hd) acc[qi][r] += pj * Vs[j * pitch + c];
        }
      }
    }
  }
#pragma unroll
  for (int qi = 0; qi < 4; ++qi) {
    const int tq = q0 + warp * 4 + qi;
    if (tq >= T) continue;
    const float inv = 1.f / l[qi];
    float* o = out + (static_cast<long long>(blockIdx.z) * T + tq) * W + h * hd;
#pragma unroll
    for (int r = 0; r < ATT_MAXR; ++r) {
      const int c = lane + 32 * r;
      if (c < hd) o[c] = acc[qi][r] * inv;
    }
  }
}

// ── GroupNorm + activation: block per (group, batch) ─────────────────────────
__global__ void groupNormKernel(const float* x, int C, int HW, int groups, const float* w, const float* b, Act act,
                                float* y) {
  const int g = blockIdx.x, n = blockIdx.y;
  const int cg = C / groups;
  const long long off = (static_cast<long long>(n) * C + g * cg) * HW;
  const long long count = static_cast<long long>(cg) * HW;
  __shared__ float red[32];
  float s = 0.f;
  for (long long i = threadIdx.x; i < count; i += blockDim.x) s += x[off + i];
  s = warpSum(s);
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = s;
  __syncthreads();
  float total = 0.f;
  for (int i = 0; i < static_cast<int>(blockDim.x / 32); ++i) total += red[i];
  const float mean = total / count;
  __syncthreads();
  float v = 0.f;
  for (long long i = threadIdx.x; i < count; i += blockDim.x) {
    const float d = x[off + i] - mean;
    v += d * d;
  }
  v = warpSum(v);
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  float var = 0.f;
  for (int i = 0; i < static_cast<int>(blockDim.x / 32); ++i) var += red[i];
  const float inv = rsqrtf(var / count + 1e-5f);
  for (long long i = threadIdx.x; i < count; i += blockDim.x) {
    const int c = g * cg + static_cast<int>(i / HW);
    float o = (x[off + i] - mean) * inv;
    if (w) o = o * w[c] + b[c];
    y[off + i] = activate(o, act);
  }
}

__global__ void im2colKernel(const float* x, int B, int C, int H, int W, int k, int stride, int pad, int OH, int OW,
                             float* cols) {
  const long long ck = static_cast<long long>(C) * k * k;
  const long long total = static_cast<long long>(B) * OH * OW * ck;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long row = i / ck;
    const int col = static_cast<int>(i % ck);
    const int c = col / (k * k), ky = (col / k) % k, kx = col % k;
    const int ox = static_cast<int>(row % OW), oy = static_cast<int>((row / OW) % OH);
    const int n = static_cast<int>(row / (static_cast<long long>(OW) * OH));
    const int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
    cols[i] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[((static_cast<long long>(n) * C + c) * H + iy) * W + ix]
                                                        : 0.f;
  }
}

__global__ void transposeKernel(const float* x, int B, int P, int C, float* y) {
  const long long total = static_cast<long long>(B) * P * C;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int p = static_cast<int>(i % P);
    const int c = static_cast<int>((i / P) % C);
    const long long n = i / (static_cast<long long>(P) * C);
    y[i] = x[(n * P + p) * C + c];
  }
}

__global__ void normalizeKernel(const float* x, int B, int C, int inner, const float* mean, const float* stdv,
                                float* y) {
  const long long total = static_cast<long long>(B) * C * inner;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>((i / inner) % C);
    y[i] = (x[i] - mean[c]) / stdv[c];
  }
}

__global__ void meanPoolKernel(const float* x, int rows, int HW, float* y) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  float s = 0.f;
  for (int i = threadIdx.x % 32; i < HW; i += 32) s += x[static_cast<long long>(row) * HW + i];
  s = warpSum(s);
  if (threadIdx.x % 32 == 0) y[row] = s / HW;
}

__global__ void actionEnergyKernel(const float* actions, int N, int H, int A, DCost c, float* energies) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const float* a = actions + static_cast<long long>(n) * H * A;
  float mag = 0.f, rate = 0.f, bounds = 0.f;
  for (int t = 0; t < H; ++t) {
    float sm = 0.f, sr = 0.f;
    for (int j = 0; j < A; ++j) {
      const float v = a[t * A + j];
      sm += v * v;
      if (t > 0 || c.previousAction) {
        const float d = v - (t == 0 ? c.previousAction[j] : a[(t - 1) * A + j]);
        sr += d * d;
      }
      if (c.boundsWeight > 0.f) {
        const float over = fmaxf(0.f, v - c.high[j]) + fmaxf(0.f, c.low[j] - v);
        bounds += over * over;
      }
    }
    mag += sm / A;
    rate += sr / A;
  }
  energies[n] = c.magnitudeWeight * mag + c.rateWeight * rate + (c.boundsWeight > 0.f ? c.boundsWeight * bounds : 0.f);
}

__global__ void latentEnergyKernel(const float* z, int ldz, int N, int L, const float* goal, bool l2, float weight,
                                   float* energies) {
  const int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (n >= N) return;
  const float* zr = z + static_cast<long long>(n) * ldz;
  float s = 0.f;
  for (int i = threadIdx.x % 32; i < L; i += 32) {
    const float d = zr[i] - goal[i];
    s += l2 ? d * d : fabsf(d);
  }
  s = warpSum(s);
  if (threadIdx.x % 32 == 0) energies[n] += weight * (s / L);
}

__global__ void copyRowsKernel(const float* x, long long ldx, float* y, long long ldy, int rows, int C) {
  const long long total = static_cast<long long>(rows) * C;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long r = i / C;
    const int c = static_cast<int>(i % C);
    y[r * ldy + c] = x[r * ldx + c];
  }
}

unsigned gridFor(long long total, int threads = 256) {
  const long long blocks = (total + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 65535LL * 16 ? (blocks > 0 ? blocks : 1) : 65535LL * 16);
}

}  // namespace

void layerNorm(const float* x, int ldx, int rows, int C, const float* w, const float* b, float eps, float* y, int ldy,
               Act act, cudaStream_t s) {
  require(x && y && rows > 0 && C > 0, "layerNorm: rows and C must be positive, pointers non-null");
  require(ldx >= C && ldy >= C, "layerNorm: row strides must be >= C " + std::to_string(C));
  require((w == nullptr) == (b == nullptr), "layerNorm: weight and bias must both be given or both omitted");
  require(eps > 0.f, "layerNorm: eps must be > 0");
  layerNormKernel<<<ceilDiv(rows, 8), 256, 0, s>>>(x, ldx, rows, C, w, b, eps, y, ldy, act);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

std::size_t attentionSharedBytes(int hd) { return static_cast<std::size_t>(ATT_Q + 2 * ATT_K) * (hd + 1) * sizeof(float); }

void attention(const float* qkv, int B, int T, int W, int heads, int tokensPerFrame, float* out, cudaStream_t s) {
  require(qkv && out && B > 0 && T > 0 && W > 0 && heads > 0, "attention: B, T, W, heads must be positive");
  require(W % heads == 0, "attention: heads " + std::to_string(heads) + " must divide width " + std::to_string(W));
  const int hd = W / heads;
  require(hd <= 32 * ATT_MAXR, "attention: head dim " + std::to_string(hd) + " exceeds " + std::to_string(32 * ATT_MAXR));
  require(tokensPerFrame >= 0, "attention: tokensPerFrame must be >= 0");
  require(B <= 65535 && heads <= 65535, "attention: batch and heads must be <= 65535");
  const std::size_t smem = attentionSharedBytes(hd);
  static std::once_flag raised;  // opt in once to > 48 KiB of dynamic shared memory (head dim 128)
  std::call_once(raised, [] {
    JEPA_CUDA_CHECK(cudaFuncSetAttribute(attentionKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(attentionSharedBytes(32 * ATT_MAXR))));
  });
  dim3 grid(ceilDiv(T, ATT_Q), heads, B);
  attentionKernel<<<grid, 256, smem, s>>>(qkv, T, W, heads, tokensPerFrame, out);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void groupNormAct(const float* x, int B, int C, int HW, int groups, const float* w, const float* b, Act act, float* y,
                  cudaStream_t s) {
  require(x && y && B > 0 && C > 0 && HW > 0 && groups > 0, "groupNorm: sizes must be positive");
  require(C % groups == 0, "groupNorm: groups " + std::to_string(groups) + " must divide channels " + std::to_string(C));
  require(B <= 65535, "groupNorm: batch must be <= 65535");
  groupNormKernel<<<dim3(groups, B), 256, 0, s>>>(x, C, HW, groups, w, b, act, y);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void im2col(const float* x, int B, int C, int H, int W, int k, int stride, int pad, int OH, int OW, float* cols,
            cudaStream_t s) {
  require(x && cols && B > 0 && C > 0 && k > 0 && stride > 0 && pad >= 0, "im2col: bad sizes");
  require(OH == (H + 2 * pad - k) / stride + 1 && OW == (W + 2 * pad - k) / stride + 1 && OH > 0 && OW > 0,
          "im2col: output size does not match kernel/stride/padding");
  im2colKernel<<<gridFor(static_cast<long long>(B) * OH * OW * C * k * k), 256, 0, s>>>(x, B, C, H, W, k, stride, pad,
                                                                                       OH, OW, cols);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void transposePC(const float* x, int B, int P, int C, float* y, cudaStream_t s) {
  require(x && y && x != y && B > 0 && P > 0 && C > 0, "transpose: sizes must be positive, input and output distinct");
  transposeKernel<<<gridFor(static_cast<long long>(B) * P * C), 256, 0, s>>>(x, B, P, C, y);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void normalizeChannels(const float* x, int B, int C, int inner, const float* mean, const float* stdv, float* y,
                       cudaStream_t s) {
  require(x && y && mean && stdv && B > 0 && C > 0 && inner > 0, "normalize: sizes must be positive");
  normalizeKernel<<<gridFor(static_cast<long long>(B) * C * inner), 256, 0, s>>>(x, B, C, inner, mean, stdv, y);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void meanPool(const float* x, int B, int C, int HW, float* y, cudaStream_t s) {
  require(x && y && B > 0 && C > 0 && HW > 0, "meanPool: sizes must be positive");
  meanPoolKernel<<<ceilDiv(static_cast<long long>(B) * C, 8), 256, 0, s>>>(x, B * C, HW, y);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void actionEnergy(const float* actions, int N, int H, int A, const DCost& c, float* energies, cudaStream_t s) {
  require(actions && energies && N > 0 && H > 0 && A > 0, "actionEnergy: sizes must be positive");
  require(c.boundsWeight <= 0.f || (c.low && c.high), "actionEnergy: boundsWeight > 0 needs low and high");
  actionEnergyKernel<<<ceilDiv(N, 128), 128, 0, s>>>(actions, N, H, A, c, energies);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void latentEnergy(const float* z, int ldz, int N, int L, const float* goal, const DCost& c, bool terminal,
                  float* energies, cudaStream_t s) {
  require(z && goal && energies && N > 0 && L > 0 && ldz >= L, "latentEnergy: bad sizes or stride");
  const float w = c.runningWeight + (terminal ? c.terminalWeight : 0.f);
  if (w == 0.f) return;
  latentEnergyKernel<<<ceilDiv(N, 8), 256, 0, s>>>(z, ldz, N, L, goal, c.l2, w, energies);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void copyRows(const float* x, long long ldx, float* y, long long ldy, int rows, int C, cudaStream_t s) {
  require(x && y && rows > 0 && C > 0 && ldx >= C && ldy >= C, "copyRows: bad sizes or strides");
  copyRowsKernel<<<gridFor(static_cast<long long>(rows) * C), 256, 0, s>>>(x, ldx, y, ldy, rows, C);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace jepa::cuda
