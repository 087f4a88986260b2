// Training kernels of the CUDA backend (mirror of native/src/cpu/backward.cc
// and adamw.cc): backward of linear, layer norm, activations, frame-causal
// attention and conv2d, and the AdamW update. fp32 throughout (gradients are
// not rounded to bf16). Input gradients (dX, dqkv) are overwritten; parameter
// gradients (dW, db, dw) are accumulated (+=), as on the CPU.
//   sgemm: a tiled fp32 GEMM with arbitrary strides on both operands, so the
//          transposed products of the backward passes need no transpose copy.
#include <cmath>
#include <vector>

#include "cuda/backward.cuh"

namespace jepa::cuda {

namespace {

// C[M, N] (row stride ldc) = (accumulate ? C : 0) + Σ_k A(m, k) B(k, n),
// A(m, k) = a[m·sam + k·sak], B(k, n) = b[k·sbk + n·sbn]. 64×64 tiles, 256 threads × 4×4 outputs.
constexpr int SG = 64, SK = 16;

__global__ void __launch_bounds__(256) sgemmKernel(const float* __restrict__ a, long long sam, long long sak,
                                                   const float* __restrict__ b, long long sbk, long long sbn, float* c,
                                                   int ldc, int M, int N, int K, bool accumulate) {
  __shared__ float As[SK][SG + 1];
  __shared__ float Bs[SK][SG + 1];
  const int m0 = blockIdx.x * SG, n0 = blockIdx.y * SG;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += SK) {
    for (int e = threadIdx.x; e < SG * SK; e += 256) {
      const int mm = e % SG, kk = e / SG;
      const int gm = m0 + mm, gk = k0 + kk;
      As[kk][mm] = (gm < M && gk < K) ? a[gm * sam + gk * sak] : 0.f;
      const int gn = n0 + mm;
      Bs[kk][mm] = (gn < N && gk < K) ? b[gk * sbk + gn * sbn] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < SK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int gm = m0 + ty + 16 * i, gn = n0 + tx + 16 * j;
      if (gm < M && gn < N) {
        float* p = c + static_cast<long long>(gm) * ldc + gn;
        *p = (accumulate ? *p : 0.f) + acc[i][j];
      }
    }
}

// db[o] += Σ_r dY[r, o].
__global__ void columnSumKernel(const float* dY, int rows, int cols, float* db) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= cols) return;
  float s = 0.f;
  for (int r = 0; r < rows; ++r) s += dY[static_cast<long long>(r) * cols + o];
  db[o] += s;
}

// One warp per row: dX = r·(g - mean(g) - x̂·mean(g·x̂)), g = dY·w; dw += dY·x̂, db += dY (atomics).
__global__ void layerNormBackwardKernel(const float* x, const float* w, const float* dY, float* dX, float* dw,
                                        float* db, int rows, int C, float eps) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* xr = x + static_cast<long long>(row) * C;
  const float* gr = dY + static_cast<long long>(row) * C;
  float s = 0.f;
  for (int c = lane; c < C; c += 32) s += xr[c];
  const float mean = warpSum(s) / C;
  float v = 0.f;
  for (int c = lane; c < C; c += 32) v += (xr[c] - mean) * (xr[c] - mean);
  const float r = rsqrtf(warpSum(v) / C + eps);
  float sg = 0.f, sgx = 0.f;
  for (int c = lane; c < C; c += 32) {
    const float xh = (xr[c] - mean) * r;
    const float g = gr[c] * w[c];
    sg += g;
    sgx += g * xh;
    if (dw) atomicAdd(dw + c, gr[c] * xh);
    if (db) atomicAdd(db + c, gr[c]);
  }
  sg = warpSum(sg) / C;
  sgx = warpSum(sgx) / C;
  if (dX)
    for (int c = lane; c < C; c += 32) {
      const float xh = (xr[c] - mean) * r;
      dX[static_cast<long long>(row) * C + c] = r * (gr[c] * w[c] - sg - xh * sgx);
    }
}

__device__ float activationDerivative(float x, Act act) {
  switch (act) {
    case Act::Gelu:
      return 0.5f * (1.f + erff(x * 0.70710678118654752f)) + x * 0.3989422804014327f * expf(-0.5f * x * x);
    case Act::Relu:
      return x > 0.f ? 1.f : 0.f;
    case Act::Tanh: {
      const float t = tanhf(x);
      return 1.f - t * t;
    }
    case Act::Silu: {
      const float sg = 1.f / (1.f + expf(-x));
      return sg * (1.f + x * (1.f - sg));
    }
    case Act::None:
    default:
      return 1.f;
  }
}

__global__ void activationBackwardKernel(const float* x, const float* dY, float* dX, long long n, Act act) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    dX[i] = dY[i] * activationDerivative(x[i], act);
}

// Block per (query, head, sample): recompute the visible scores and softmax in
// shared memory, then dq_i (written), dk_j and dv_j (atomically accumulated
// into the zeroed dqkv). Shared memory: 2·T floats.
__global__ void attentionBackwardKernel(const float* qkv, const float* dout, float* dqkv, int T, int W, int heads,
                                        int tpf) {
  extern __shared__ float sh[];
  float* p = sh;       // [T] probabilities
  float* dp = sh + T;  // [T] dout·v_j
  __shared__ float red[32];
  const int i = blockIdx.x, h = blockIdx.y, n = blockIdx.z;
  const int hd = W / heads;
  const long long ld = 3LL * W;
  const float* base = qkv + static_cast<long long>(n) * T * ld;
  float* dbase = dqkv + static_cast<long long>(n) * T * ld;
  const float* q = base + i * ld + h * hd;
  const float* dO = dout + (static_cast<long long>(n) * T + i) * W + h * hd;
  const int visible = tpf > 0 ? min(T, (i / tpf + 1) * tpf) : T;
  const float scale = rsqrtf(static_cast<float>(hd));
  const int warps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // Scores and dp, one warp per key.
  for (int j = warp; j < visible; j += warps) {
    const float* k = base + j * ld + W + h * hd;
    const float* v = base + j * ld + 2 * W + h * hd;
    float s = 0.f, d = 0.f;
    for (int c = lane; c < hd; c += 32) {
      s += q[c] * k[c];
      d += dO[c] * v[c];
    }
    s = warpSum(s);
    d = warpSum(d);
    if (lane == 0) {
      p[j] = s * scale;
      dp[j] = d;
    }
  }
  __syncthreads();
  // Softmax over the visible keys (block reductions).
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < visible; j += blockDim.x) mx = fmaxf(mx, p[j]);
  mx = warpMax(mx);
  if (lane == 0) red[warp] = mx;
  __syncthreads();
  mx = -INFINITY;
  for (int w = 0; w < warps; ++w) mx = fmaxf(mx, red[w]);
  __syncthreads();
  float sum = 0.f;
  for (int j = threadIdx.x; j < visible; j += blockDim.x) {
    p[j] = __expf(p[j] - mx);
    sum += p[j];
  }
  sum = warpSum(sum);
  if (lane == 0) red[warp] = sum;
  __syncthreads();
  sum = 0.f;
  for (int w = 0; w < warps; ++w) sum += red[w];
  __syncthreads();
  float pdp = 0.f;
  for (int j = threadIdx.x; j < visible; j += blockDim.x) {
    p[j] /= sum;
    pdp += p[j] * dp[j];
  }
  pdp = warpSum(pdp);
  if (lane == 0) red[warp] = pdp;
  __syncthreads();
  pdp = 0.f;
  for (int w = 0; w < warps; ++w) pdp += red[w];
  // ds_j = p_j (dp_j - Σ p dp); dq = Σ ds_j k_j · scale; dk_j += ds_j q · scale; dv_j += p_j dO.
  for (int c = threadIdx.x; c < hd; c += blockDim.x) {
    float dq = 0.f;
    for (int j = 0; j < visible; ++j) {
      const float ds = p[j] * (dp[j] - pdp);
      dq += ds * base[j * ld + W + h * hd + c];
      atomicAdd(dbase + j * ld + W + h * hd + c, ds * q[c] * scale);
      atomicAdd(dbase + j * ld + 2 * W + h * hd + c, p[j] * dO[c]);
    }
    atomicAdd(dbase + i * ld + h * hd + c, dq * scale);
  }
}

// col2im with accumulation: dX[n, c, iy, ix] += dcols[(n, oy, ox), (c, ky, kx)].
__global__ void col2imKernel(const float* dcols, int B, int C, int H, int W, int k, int stride, int pad, int OH,
                             int OW, float* dX) {
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
    if (iy >= 0 && iy < H && ix >= 0 && ix < W)
      atomicAdd(dX + ((static_cast<long long>(n) * C + c) * H + iy) * W + ix, dcols[i]);
  }
}

__global__ void adamwKernel(float* param, const float* grad, float* m, float* v, long long n, float b1, float b2,
                            float eps, float decay, float stepSize, float invSqrtBc2) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const float g = grad[i];
    const float mi = b1 * m[i] + (1.f - b1) * g;
    const float vi = b2 * v[i] + (1.f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - stepSize * mi / (sqrtf(vi) * invSqrtBc2 + eps);
  }
}

unsigned gridOf(long long total) {
  const long long blocks = (total + 255) / 256;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535LL * 16 ? 65535LL * 16 : blocks));
}

}  // namespace

void sgemm(const float* a, long long sam, long long sak, const float* b, long long sbk, long long sbn, float* c, int ldc,
           int M, int N, int K, bool accumulate, cudaStream_t s) {
  require(a && b && c && M > 0 && N > 0 && K > 0 && ldc >= N, "sgemm: sizes must be positive, ldc >= N");
  dim3 grid(ceilDiv(M, SG), ceilDiv(N, SG));
  require(grid.y <= 65535u, "sgemm: N too large");
  sgemmKernel<<<grid, 256, 0, s>>>(a, sam, sak, b, sbk, sbn, c, ldc, M, N, K, accumulate);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void linearBackward(const float* x, const float* w, const float* dY, float* dX, float* dW, float* db, int rows, int in,
                    int out, cudaStream_t s) {
  require(x && w && dY && rows > 0 && in > 0 && out > 0, "linearBackward: sizes must be positive, x, W, dY given");
  if (dX) sgemm(dY, out, 1, w, in, 1, dX, in, rows, in, out, false, s);
  if (dW) sgemm(dY, 1, out, x, in, 1, dW, in, out, in, rows, true, s);
  if (db) {
    columnSumKernel<<<ceilDiv(out, 256), 256, 0, s>>>(dY, rows, out, db);
    JEPA_CUDA_CHECK(cudaGetLastError());
  }
}

void layerNormBackward(const float* x, const float* w, const float* dY, float* dX, float* dw, float* db, int rows,
                       int C, float eps, cudaStream_t s) {
  require(x && w && dY && rows > 0 && C > 0 && eps > 0.f, "layerNormBackward: sizes must be positive, eps > 0");
  layerNormBackwardKernel<<<ceilDiv(rows, 8), 256, 0, s>>>(x, w, dY, dX, dw, db, rows, C, eps);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void activationBackward(const float* x, const float* dY, float* dX, long long n, Act act, cudaStream_t s) {
  require(x && dY && dX && n > 0, "activationBackward: n must be positive");
  activationBackwardKernel<<<gridOf(n), 256, 0, s>>>(x, dY, dX, n, act);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void attentionBackward(const float* qkv, const float* dout, float* dqkv, int B, int T, int W, int heads, int tpf,
                       cudaStream_t s) {
  require(qkv && dout && dqkv && B > 0 && T > 0 && heads > 0 && W % heads == 0,
          "attentionBackward: width must be a multiple of heads, sizes positive");
  require(tpf >= 0 && (tpf == 0 || T % tpf == 0), "attentionBackward: tokens must be a multiple of tokensPerFrame");
  require(B <= 65535 && heads <= 65535, "attentionBackward: batch and heads must be <= 65535");
  const std::size_t smem = 2 * static_cast<std::size_t>(T) * sizeof(float);
  require(smem <= 48 * 1024, "attentionBackward: at most 6144 tokens");
  JEPA_CUDA_CHECK(cudaMemsetAsync(dqkv, 0, static_cast<std::size_t>(B) * T * 3 * W * sizeof(float), s));
  attentionBackwardKernel<<<dim3(T, heads, B), 128, smem, s>>>(qkv, dout, dqkv, T, W, heads, tpf);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void conv2dBackward(const float* x, const float* w, const float* dY, float* dX, float* dW, float* db, int B, int C,
                    int H, int W, int O, int k, int stride, int pad, float* cols, float* dYp, cudaStream_t s) {
  require(x && w && dY && cols && dYp && B > 0 && C > 0 && O > 0 && k > 0 && stride > 0 && pad >= 0,
          "conv2dBackward: bad sizes");
  const int OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
  require(OH > 0 && OW > 0, "conv2dBackward: the kernel does not fit the padded input");
  const int P = OH * OW, CK = C * k * k;
  const int rows = B * P;
  transposePC(dY, B, O, P, dYp, s);  // [B, O, P] → [B, P, O]
  if (dW || dX) im2col(x, B, C, H, W, k, stride, pad, OH, OW, cols, s);
  if (dW) sgemm(dYp, 1, O, cols, CK, 1, dW, CK, O, CK, rows, true, s);
  if (db) {
    columnSumKernel<<<ceilDiv(O, 256), 256, 0, s>>>(dYp, rows, O, db);
    JEPA_CUDA_CHECK(cudaGetLastError());
  }
  if (dX) {
    // dcols = dYp · Wmat, reusing `cols`; then scatter-add into the zeroed dX.
    sgemm(dYp, O, 1, w, CK, 1, cols, CK, rows, CK, O, false, s);
    JEPA_CUDA_CHECK(cudaMemsetAsync(dX, 0, static_cast<std::size_t>(B) * C * H * W * sizeof(float), s));
    col2imKernel<<<gridOf(static_cast<long long>(rows) * CK), 256, 0, s>>>(cols, B, C, H, W, k, stride, pad, OH, OW, dX);
    JEPA_CUDA_CHECK(cudaGetLastError());
  }
}

void adamw(float* param, const float* grad, float* m, float* v, long long n, const AdamW& hp, cudaStream_t s) {
  require(param && grad && m && v && n > 0, "adamw: n must be positive, every buffer given");
  require(hp.step >= 1, "adamw: step must be >= 1 (the 1-based number of this update)");
  require(hp.lr >= 0 && hp.beta1 >= 0 && hp.beta1 < 1 && hp.beta2 >= 0 && hp.beta2 < 1 && hp.eps > 0,
          "adamw: need lr >= 0, 0 <= beta1, beta2 < 1 and eps > 0");
  const double bc1 = 1.0 - std::pow(static_cast<double>(hp.beta1), hp.step);
  const double bc2 = 1.0 - std::pow(static_cast<double>(hp.beta2), hp.step);
  adamwKernel<<<gridOf(n), 256, 0, s>>>(param, grad, m, v, n, hp.beta1, hp.beta2, hp.eps, 1.0f - hp.lr * hp.weightDecay,
                                        static_cast<float>(hp.lr / bc1), static_cast<float>(1.0 / std::sqrt(bc2)));
  JEPA_CUDA_CHECK(cudaGetLastError());
}

// ── host entry points for the parity suite (synchronous; outputs are in/out so
// the accumulate semantics of parameter gradients are visible) ───────────────

namespace {

class HostOp {
 public:
  HostOp() {
    requireDevice();
    JEPA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~HostOp() {
    bufs_.clear();
    if (stream_) cudaStreamDestroy(stream_);
  }
  HostOp(const HostOp&) = delete;
  HostOp& operator=(const HostOp&) = delete;
  cudaStream_t stream() const { return stream_; }
  // Device copy of a host array (null stays null).
  float* in(const float* host, std::size_t count) {
    if (!host) return nullptr;
    bufs_.emplace_back(count);
    JEPA_CUDA_CHECK(cudaMemcpyAsync(bufs_.back().get(), host, count * sizeof(float), cudaMemcpyHostToDevice, stream_));
    return bufs_.back().get();
  }
  float* scratch(std::size_t count) {
    bufs_.emplace_back(count);
    return bufs_.back().get();
  }
  // Queues a copy back into `host` (done at finish()).
  void out(float* host, const float* dev, std::size_t count) {
    if (host) JEPA_CUDA_CHECK(cudaMemcpyAsync(host, dev, count * sizeof(float), cudaMemcpyDeviceToHost, stream_));
  }
  void finish() { JEPA_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
  std::vector<DeviceBuffer<float>> bufs_;
};

}  // namespace

void opLinearBackward(const float* x, const float* w, const float* dY, int rows, int in, int out, float* dX, float* dW,
                      float* db) {
  require(rows > 0 && in > 0 && out > 0, "linearBackward: rows, in, out must be positive");
  HostOp op;
  const std::size_t nx = static_cast<std::size_t>(rows) * in, nw = static_cast<std::size_t>(out) * in;
  float* ddX = dX ? op.scratch(nx) : nullptr;
  float* ddW = op.in(dW, nw);
  float* ddb = op.in(db, out);
  linearBackward(op.in(x, nx), op.in(w, nw), op.in(dY, static_cast<std::size_t>(rows) * out), ddX, ddW, ddb, rows, in,
                 out, op.stream());
  op.out(dX, ddX, nx);
  op.out(dW, ddW, nw);
  op.out(db, ddb, out);
  op.finish();
}

void opLayerNormBackward(const float* x, const float* w, const float* dY, int rows, int C, float eps, float* dX,
                         float* dw, float* db) {
  require(rows > 0 && C > 0, "layerNormBackward: rows and C must be positive");
  HostOp op;
  const std::size_t n = static_cast<std::size_t>(rows) * C;
  float* ddX = dX ? op.scratch(n) : nullptr;
  float* ddw = op.in(dw, C);
  float* ddb = op.in(db, C);
  layerNormBackward(op.in(x, n), op.in(w, C), op.in(dY, n), ddX, ddw, ddb, rows, C, eps, op.stream());
  op.out(dX, ddX, n);
  op.out(dw, ddw, C);
  op.out(db, ddb, C);
  op.finish();
}

void opActivationBackward(const float* x, const float* dY, long long n, Act act, float* dX) {
  require(n > 0, "activationBackward: n must be positive");
  HostOp op;
  float* ddX = op.scratch(n);
  activationBackward(op.in(x, n), op.in(dY, n), ddX, n, act, op.stream());
  op.out(dX, ddX, n);
  op.finish();
}

void opAttentionBackward(const float* qkv, const float* dout, int B, int T, int W, int heads, int tpf, float* dqkv) {
  require(B > 0 && T > 0 && W > 0, "attentionBackward: sizes must be positive");
  HostOp op;
  const std::size_t n3 = static_cast<std::size_t>(B) * T * 3 * W;
  float* d = op.scratch(n3);
  attentionBackward(op.in(qkv, n3), op.in(dout, static_cast<std::size_t>(B) * T * W), d, B, T, W, heads, tpf, op.stream());
  op.out(dqkv, d, n3);
  op.finish();
}

void opConv2dBackward(const float* x, const float* w, const float* dY, int B, int C, int H, int W, int O, int k,
                      int stride, int pad, float* dX, float* dW, float* db) {
  require(B > 0 && C > 0 && H > 0 && W > 0 && O > 0 && k > 0 && stride > 0 && pad >= 0, "conv2dBackward: bad sizes");
  const int OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
  require(OH > 0 && OW > 0, "conv2dBackward: the kernel does not fit the padded input");
  HostOp op;
  const std::size_t nx = static_cast<std::size_t>(B) * C * H * W, nw = static_cast<std::size_t>(O) * C * k * k;
  const std::size_t rows = static_cast<std::size_t>(B) * OH * OW;
  float* ddX = dX ? op.scratch(nx) : nullptr;
  float* ddW = op.in(dW, nw);
  float* ddb = op.in(db, O);
  conv2dBackward(op.in(x, nx), op.in(w, nw), op.in(dY, rows * O), ddX, ddW, ddb, B, C, H, W, O, k, stride, pad,
                 op.scratch(rows * C * k * k), op.scratch(rows * O), op.stream());
  op.out(dX, ddX, nx);
  op.out(dW, ddW, nw);
  op.out(db, ddb, O);
  op.finish();
}

void opAdamW(float* param, const float* grad, float* m, float* v, long long n, float lr, float beta1, float beta2,
             float eps, float weightDecay, int step) {
  require(n > 0, "adamw: n must be positive");
  HostOp op;
  float* p = op.in(param, n);
  float* dm = op.in(m, n);
  float* dv = op.in(v, n);
  AdamW hp;
  hp.lr = lr;
  hp.beta1 = beta1;
  hp.beta2 = beta2;
  hp.eps = eps;
  hp.weightDecay = weightDecay;
  hp.step = step;
  adamw(p, op.in(grad, n), dm, dv, n, hp, op.stream());
  op.out(param, p, n);
  op.out(m, dm, n);
  op.out(v, dv, n);
  op.finish();
}

}  // namespace jepa::cuda
