// Fused MLP rollout: one kernel runs all H steps of an MLP predictor for a
// block of S samples. The weights (rows padded to an odd pitch, so threads that
// each own an output neuron hit distinct banks) are staged once into shared
// memory; activations never leave shared memory between layers or steps. The
// energy (action terms, then running/terminal latent distance per step) is
// accumulated in the same kernel. Widths <= 256 (one thread per neuron), and
// the fp32 weights must fit in one block's shared memory (about 40 k
// parameters on A100, 56 k on H100); larger MLPs take the GEMM path.
#include "cuda/kernels.cuh"

namespace jepa::cuda {

namespace {

constexpr int FUSED_THREADS = 256;
constexpr int FUSED_MAX_WIDTH = 256;

// Row pitch of a staged weight matrix: odd, so the 32 threads of a warp (one
// output neuron each) read 32 different banks at every input index.
__host__ __device__ inline int pitchOf(int in) { return in % 2 == 0 ? in + 1 : in; }

// Offsets (floats) of each layer's staged tensors in shared memory.
struct Layout {
  int w[9], b[9], lnw[9], lnb[9];
  int total;
};

Layout layoutOf(const FusedMlp& m) {
  Layout l{};
  int off = 0;
  for (int i = 0; i < m.layers; ++i) {
    const int in = m.dims[i], out = m.dims[i + 1];
    l.w[i] = off;
    off += out * pitchOf(in);
    l.b[i] = off;
    off += out;
    l.lnw[i] = l.lnb[i] = -1;
    if (m.lnw[i]) {
      l.lnw[i] = off;
      off += out;
      l.lnb[i] = off;
      off += out;
    }
  }
  l.total = off;
  return l;
}

int maxWidth(const FusedMlp& m) {
  int w = 0;
  for (int i = 0; i <= m.layers; ++i) w = w > m.dims[i] ? w : m.dims[i];
  return w;
}

template <int S>
__global__ void __launch_bounds__(FUSED_THREADS) fusedMlpKernel(FusedMlp m, Layout lay, int width,
                                                                const float* __restrict__ z0,
                                                                const float* __restrict__ actions, int N, int H,
                                                                const float* __restrict__ goal, DCost c,
                                                                float* __restrict__ energies,
                                                                float* __restrict__ finalLatents,
                                                                float* __restrict__ trajectory) {
  extern __shared__ float sm[];
  float* W = sm;                 // staged weights
  float* xa = W + lay.total;     // [S][width] layer input
  float* xb = xa + S * width;    // [S][width] layer output
  float* z = xb + S * width;     // [S][L] current latent
  __shared__ float energy[S];
  const int L = m.latentDim, A = m.actionDim;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int n0 = blockIdx.x * S;

  // Stage weights (row-padded) and the start latent.
  for (int i = 0; i < m.layers; ++i) {
    const int in = m.dims[i], out = m.dims[i + 1];
    for (int e = tid; e < out * in; e += FUSED_THREADS) W[lay.w[i] + (e / in) * pitchOf(in) + e % in] = m.w[i][e];
    for (int e = tid; e < out; e += FUSED_THREADS) {
      W[lay.b[i] + e] = m.b[i][e];
      if (lay.lnw[i] >= 0) {
        W[lay.lnw[i] + e] = m.lnw[i][e];
        W[lay.lnb[i] + e] = m.lnb[i][e];
      }
    }
  }
  for (int e = tid; e < S * L; e += FUSED_THREADS) z[e] = z0[e % L];
  // Action terms of the energy: one warp per sample.
  for (int s = warp; s < S; s += FUSED_THREADS / 32) {
    const int n = n0 + s;
    float acc = 0.f;
    if (n < N) {
      const float* a = actions + static_cast<long long>(n) * H * A;
      for (int t = 0; t < H; ++t) {
        float sm2 = 0.f, sr = 0.f, sb = 0.f;
        for (int j = lane; j < A; j += 32) {
          const float v = a[t * A + j];
          sm2 += v * v;
          if (t > 0 || c.previousAction) {
            const float d = v - (t == 0 ? c.previousAction[j] : a[(t - 1) * A + j]);
            sr += d * d;
          }
          if (c.boundsWeight > 0.f) {
            const float over = fmaxf(0.f, v - c.high[j]) + fmaxf(0.f, c.low[j] - v);
            sb += over * over;
          }
        }
        acc += c.magnitudeWeight * warpSum(sm2) / A + c.rateWeight * warpSum(sr) / A +
               (c.boundsWeight > 0.f ? c.boundsWeight * warpSum(sb) : 0.f);
      }
    }
    if (lane == 0) energy[s] = acc;
  }
  __syncthreads();

  for (int t = 0; t < H; ++t) {
    for (int e = tid; e < S * (L + A); e += FUSED_THREADS) {
      const int s = e / (L + A), i = e % (L + A);
      const int n = min(n0 + s, N - 1);
      xa[s * width + i] = i < L ? z[s * L + i] : actions[(static_cast<long long>(n) * H + t) * A + (i - L)];
    }
    __syncthreads();
    float* in = xa;
    float* out = xb;
    for (int li = 0; li < m.layers; ++li) {
      const int din = m.dims[li], dout = m.dims[li + 1];
      if (tid < dout) {
        float acc[S];
        const float bias = W[lay.b[li] + tid];
#pragma unroll
        for (int s = 0; s < S; ++s) acc[s] = bias;
        const float* wr = W + lay.w[li] + tid * pitchOf(din);
        for (int i = 0; i < din; ++i) {
          const float wv = wr[i];
#pragma unroll
          for (int s = 0; s < S; ++s) acc[s] += wv * in[s * width + i];
        }
        const bool last = li == m.layers - 1;
#pragma unroll
        for (int s = 0; s < S; ++s) out[s * width + tid] = (last || lay.lnw[li] >= 0) ? acc[s] : activate(acc[s], m.act);
      }
      __syncthreads();
      if (li < m.layers - 1 && lay.lnw[li] >= 0) {
        for (int s = warp; s < S; s += FUSED_THREADS / 32) {
          float* r = out + s * width;
          float sum = 0.f;
          for (int i = lane; i < dout; i += 32) sum += r[i];
          const float mean = warpSum(sum) / dout;
          float var = 0.f;
          for (int i = lane; i < dout; i += 32) var += (r[i] - mean) * (r[i] - mean);
          const float inv = rsqrtf(warpSum(var) / dout + 1e-5f);
          __syncwarp();
          for (int i = lane; i < dout; i += 32)
            r[i] = activate((r[i] - mean) * inv * W[lay.lnw[li] + i] + W[lay.lnb[li] + i], m.act);
        }
        __syncthreads();
      }
      float* tmp = in;
      in = out;
      out = tmp;
    }
    // `in` holds the last layer's output [S][L].
    for (int e = tid; e < S * L; e += FUSED_THREADS) {
      const int s = e / L, i = e % L;
      const float v = in[s * width + i] + (m.residual ? z[e] : 0.f);
      z[e] = v;
      const int n = n0 + s;
      if (trajectory && n < N) trajectory[(static_cast<long long>(n) * H + t) * L + i] = v;
    }
    __syncthreads();
    const float wgt = c.runningWeight + (t == H - 1 ? c.terminalWeight : 0.f);
    for (int s = warp; s < S; s += FUSED_THREADS / 32) {
      float d = 0.f;
      for (int i = lane; i < L; i += 32) {
        const float diff = z[s * L + i] - goal[i];
        d += c.l2 ? diff * diff : fabsf(diff);
      }
      d = warpSum(d);
      if (lane == 0) energy[s] += wgt * (d / L);
    }
    __syncthreads();
  }
  for (int s = tid; s < S; s += FUSED_THREADS)
    if (n0 + s < N) energies[n0 + s] = energy[s];
  if (finalLatents)
    for (int e = tid; e < S * L; e += FUSED_THREADS)
      if (n0 + e / L < N) finalLatents[static_cast<long long>(n0) * L + e] = z[e];
}

template <int S>
void launchFused(const FusedMlp& m, const Layout& lay, const float* z0, const float* actions, int N, int H,
                 const float* goal, const DCost& c, float* energies, float* finalLatents, float* trajectory,
                 cudaStream_t s) {
  const std::size_t smem = fusedMlpSharedBytes(m, S);
  JEPA_CUDA_CHECK(cudaFuncSetAttribute(fusedMlpKernel<S>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem)));
  fusedMlpKernel<S><<<ceilDiv(N, S), FUSED_THREADS, smem, s>>>(m, lay, maxWidth(m), z0, actions, N, H, goal, c,
                                                               energies, finalLatents, trajectory);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

std::size_t fusedMlpSharedBytes(const FusedMlp& m, int samplesPerBlock) {
  const Layout lay = layoutOf(m);
  return (static_cast<std::size_t>(lay.total) + 2 * samplesPerBlock * maxWidth(m) +
          static_cast<std::size_t>(samplesPerBlock) * m.latentDim) *
         sizeof(float);
}

void fusedMlpRollout(const FusedMlp& m, const float* z0, const float* actions, int N, int H, const float* goal,
                     const DCost& c, float* energies, float* finalLatents, float* trajectory, int samplesPerBlock,
                     cudaStream_t s) {
  require(m.layers >= 1 && m.layers <= 9, "fusedMlpRollout: 1..9 layers supported, got " + std::to_string(m.layers));
  require(maxWidth(m) <= FUSED_MAX_WIDTH, "fusedMlpRollout: widths must be <= 256, got " + std::to_string(maxWidth(m)));
  require(m.dims[0] == m.latentDim + m.actionDim && m.dims[m.layers] == m.latentDim,
          "fusedMlpRollout: first layer must take latentDim + actionDim, last must give latentDim");
  require(z0 && actions && goal && energies && N > 0 && H > 0, "fusedMlpRollout: null pointer or non-positive N/H");
  require(c.boundsWeight <= 0.f || (c.low && c.high), "fusedMlpRollout: boundsWeight > 0 needs low and high");
  for (int i = 0; i < m.layers; ++i) require(m.w[i] && m.b[i], "fusedMlpRollout: layer weights missing");
  const Layout lay = layoutOf(m);
  switch (samplesPerBlock) {
    case 1: launchFused<1>(m, lay, z0, actions, N, H, goal, c, energies, finalLatents, trajectory, s); break;
    case 2: launchFused<2>(m, lay, z0, actions, N, H, goal, c, energies, finalLatents, trajectory, s); break;
    case 4: launchFused<4>(m, lay, z0, actions, N, H, goal, c, energies, finalLatents, trajectory, s); break;
    case 8: launchFused<8>(m, lay, z0, actions, N, H, goal, c, energies, finalLatents, trajectory, s); break;
    default: throw ShapeError("fusedMlpRollout: samplesPerBlock must be 1, 2, 4 or 8");
  }
}

}  // namespace jepa::cuda
