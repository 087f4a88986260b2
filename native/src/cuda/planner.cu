// The CEM planner on the device. One iteration = sample (Philox4x32-10
// counter-based normals, so any element of any iteration is drawn
// independently and replays identically), clip to the sampling box, rollout
// with energies, device top-k of the elites (bitonic sort in one block),
// best-so-far tracking, and the mean/std update with momentum and a variance
// floor. The iteration is captured once into a CUDA graph and replayed for
// every iteration of this and later plans with the same configuration; the
// iteration counter and the seed live in device memory so the replays differ.
// Only the best sequence, its energy, the final mean and the per-iteration
// best and mean energies come back.
#include <cfloat>
#include <cstdio>
#include <cstring>

#include "cuda/model_impl.cuh"
#include "cuda/philox.cuh"

namespace jepa::cuda {

namespace {

constexpr int kMaxSamples = 4096;  // top-k sorts all energies in one block's shared memory

// A standard normal from two 32-bit words (Box-Muller; u1 in (0, 1]).
__device__ float normalFrom(unsigned a, unsigned b) {
  const float u1 = (static_cast<float>(a) + 1.0f) * 2.3283064365386963e-10f;
  const float u2 = static_cast<float>(b) * 2.3283064365386963e-10f;
  return sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
}

// state[0] = iteration, state[1], state[2] = seed (low, high words).
__global__ void sampleKernel(const float* mean, const float* stdv, float minStd, int N, int D, int A, bool includeMean,
                             const float* low, const float* high, const unsigned* state, float* samples) {
  const long long total = static_cast<long long>(N) * D;
  const uint2 key = make_uint2(state[1], state[2]);
  const unsigned iter = state[0];
  for (long long e = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(e % D);
    const long long n = e / D;
    float v;
    if (includeMean && n == 0) {
      v = mean[i];
    } else {
      const PhiloxWords r = philox4x32_10(
          PhiloxWords{static_cast<unsigned>(e), static_cast<unsigned>(e >> 32), iter, 0x4a455041u}, key.x, key.y);
      v = mean[i] + fmaxf(stdv[i], minStd) * normalFrom(r.x, r.y);
    }
    if (low) v = fminf(fmaxf(v, low[i % A]), high[i % A]);
    samples[e] = v;
  }
}

// One block: sorts (energy, index) ascending, writes the K elite indices,
// this iteration's best and mean energy, and the best-so-far sequence; then advances
// the iteration counter. best[D] holds the best energy so far.
__global__ void selectKernel(const float* energies, const float* samples, int N, int D, int K, int pow2, int* elites,
                             float* best, float* bestPerIter, unsigned* state) {
  extern __shared__ unsigned char raw[];
  float* key = reinterpret_cast<float*>(raw);
  int* idx = reinterpret_cast<int*>(key + pow2);
  __shared__ float total;
  if (threadIdx.x == 0) total = 0.f;
  __syncthreads();
  float part = 0.f;
  for (int i = threadIdx.x; i < N; i += blockDim.x) part += energies[i];
  part = warpSum(part);
  if (threadIdx.x % 32 == 0) atomicAdd(&total, part);
  for (int i = threadIdx.x; i < pow2; i += blockDim.x) {
    float e = i < N ? energies[i] : FLT_MAX;
    if (!(e == e)) e = FLT_MAX;  // NaN sorts last
    key[i] = e;
    idx[i] = i < N ? i : N;
  }
  __syncthreads();
  for (int size = 2; size <= pow2; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = threadIdx.x; i < pow2; i += blockDim.x) {
        const int j = i ^ stride;
        if (j > i) {
          const bool up = (i & size) == 0;
          const bool swap = up ? (key[i] > key[j] || (key[i] == key[j] && idx[i] > idx[j]))
                               : (key[i] < key[j] || (key[i] == key[j] && idx[i] < idx[j]));
          if (swap) {
            const float tk = key[i];
            key[i] = key[j];
            key[j] = tk;
            const int ti = idx[i];
            idx[i] = idx[j];
            idx[j] = ti;
          }
        }
      }
      __syncthreads();
    }
  }
  for (int k = threadIdx.x; k < K; k += blockDim.x) elites[k] = idx[k];
  const unsigned iter = state[0];
  const bool improved = iter == 0 || key[0] < best[D];
  if (improved)
    for (int i = threadIdx.x; i < D; i += blockDim.x) best[i] = samples[static_cast<long long>(idx[0]) * D + i];
  __syncthreads();
  if (threadIdx.x == 0) {
    if (improved) best[D] = key[0];
    bestPerIter[2 * iter] = key[0];
    bestPerIter[2 * iter + 1] = total / N;
    state[0] = iter + 1;
  }
}

__global__ void updateKernel(const float* samples, const int* elites, int D, int K, float momentum, float stdMomentum,
                             float* mean, float* stdv) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= D) return;
  float mu = 0.f;
  for (int k = 0; k < K; ++k) mu += samples[static_cast<long long>(elites[k]) * D + i];
  mu /= K;
  float var = 0.f;
  for (int k = 0; k < K; ++k) {
    const float d = samples[static_cast<long long>(elites[k]) * D + i] - mu;
    var += d * d;
  }
  stdv[i] = stdMomentum * stdv[i] + (1.f - stdMomentum) * sqrtf(var / K);
  mean[i] = momentum * mean[i] + (1.f - momentum) * mu;
}

int nextPow2(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

std::string configKey(const CemCall& c, int A) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%d/%d/%d/%d/%d/%d|%a/%a/%a|%d|%d%d|%a/%a/%a/%a/%a|%d%d%d", c.samples, c.horizon,
                c.frames, c.elites, A, c.iterations, static_cast<double>(c.minStd), static_cast<double>(c.momentum),
                static_cast<double>(c.stdMomentum), c.includeMean ? 1 : 0, c.clipLow ? 1 : 0,
                c.actionHistory && c.frames > 1 ? 1 : 0, static_cast<double>(c.cost.terminalWeight),
                static_cast<double>(c.cost.runningWeight), static_cast<double>(c.cost.actionMagnitudeWeight),
                static_cast<double>(c.cost.actionRateWeight), static_cast<double>(c.cost.boundsWeight),
                c.cost.l2 ? 1 : 0, c.cost.previousAction ? 1 : 0, c.cost.boundsWeight > 0.f ? 1 : 0);
  return buf;
}

}  // namespace

void philoxForTest(const std::uint32_t counter[4], const std::uint32_t key[2], std::uint32_t out[4]) {
  const PhiloxWords r = philox4x32_10(PhiloxWords{counter[0], counter[1], counter[2], counter[3]}, key[0], key[1]);
  out[0] = r.x;
  out[1] = r.y;
  out[2] = r.z;
  out[3] = r.w;
}

void Model::planCem(CemCall& c) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  const Spec& s = m.spec;
  const int A = s.actionDim, L = s.latentSize();
  const int N = c.samples, H = c.horizon, D = H * A, K = c.elites;
  require(N >= 2 && N <= kMaxSamples, "planCem: samples must be in 2.." + std::to_string(kMaxSamples) + ", got " + std::to_string(N));
  require(K >= 1 && K <= N, "planCem: elites must be in 1..samples, got " + std::to_string(K));
  require(H >= 1 && c.iterations >= 1, "planCem: horizon and iterations must be positive");
  require(c.frames >= 1 && c.frames <= s.historyLength, "planCem: frames must be in 1..historyLength");
  require(c.z0 && c.goal && c.initMean && c.initStd && c.bestActions && c.finalMean && c.iterationStats,
          "planCem: z0, goal, initMean, initStd and the outputs are required");
  require((c.clipLow == nullptr) == (c.clipHigh == nullptr), "planCem: clip low and high must be given together");
  require(c.minStd >= 0.f && c.momentum >= 0.f && c.momentum < 1.f && c.stdMomentum >= 0.f && c.stdMomentum < 1.f,
          "planCem: minStd >= 0 and momentum, stdMomentum in [0, 1)");

  m.reserveRollout(N, H, c.frames);  // first: growing a workspace drops the cached graphs
  const std::string key = configKey(c, A);
  auto found = m.graphs.find(key);
  if (found == m.graphs.end()) {
    if (m.graphs.size() >= 8) m.graphs.clear();  // bound the cache of captured configurations
    found = m.graphs.emplace(key, std::make_unique<CemState>()).first;
  }
  CemState& st = *found->second;
  cudaStream_t stream = m.stream;
  auto up = [&](DeviceBuffer<float>& b, const float* host, std::size_t count) {
    b.resize(count);
    JEPA_CUDA_CHECK(cudaMemcpyAsync(b.get(), host, count * sizeof(float), cudaMemcpyHostToDevice, stream));
  };
  up(st.z0, c.z0, static_cast<std::size_t>(c.frames) * L);
  const bool hist = c.actionHistory && c.frames > 1;
  if (hist) up(st.hist, c.actionHistory, static_cast<std::size_t>(c.frames - 1) * A);
  up(st.goal, c.goal, L);
  up(st.mean, c.initMean, D);
  up(st.stdv, c.initStd, D);
  if (c.clipLow) {
    st.clip.resize(2 * static_cast<std::size_t>(A));
    JEPA_CUDA_CHECK(cudaMemcpyAsync(st.clip.get(), c.clipLow, A * sizeof(float), cudaMemcpyHostToDevice, stream));
    JEPA_CUDA_CHECK(cudaMemcpyAsync(st.clip.get() + A, c.clipHigh, A * sizeof(float), cudaMemcpyHostToDevice, stream));
  }
  st.dcost = m.uploadCost(c.cost, st.cost);  // synchronises: the host copies above are complete
  st.samples.resize(static_cast<std::size_t>(N) * D);
  st.energies.resize(N);
  st.best.resize(D + 1);
  st.bestPerIter.resize(2 * static_cast<std::size_t>(c.iterations));
  st.elites.resize(K);
  st.iteration.resize(3);
  const unsigned state[3] = {0u, static_cast<unsigned>(c.seed), static_cast<unsigned>(c.seed >> 32)};
  JEPA_CUDA_CHECK(cudaMemcpy(st.iteration.get(), state, sizeof state, cudaMemcpyHostToDevice));

  const int pow2 = nextPow2(N);
  const std::size_t selectSmem = static_cast<std::size_t>(pow2) * (sizeof(float) + sizeof(int));
  unsigned* dstate = reinterpret_cast<unsigned*>(st.iteration.get());
  DeviceRollout r;
  r.z0 = st.z0.get();
  r.frames = c.frames;
  r.actionHistory = hist ? st.hist.get() : nullptr;
  r.actions = st.samples.get();
  r.n = N;
  r.horizon = H;
  r.goal = st.goal.get();
  r.cost = st.dcost;
  r.energies = st.energies.get();
  const float* low = c.clipLow ? st.clip.get() : nullptr;
  const float* high = c.clipLow ? st.clip.get() + A : nullptr;
  auto iteration = [&]() {
    sampleKernel<<<ceilDiv(static_cast<long long>(N) * D, 256) > 4096 ? 4096 : ceilDiv(static_cast<long long>(N) * D, 256),
                   256, 0, stream>>>(st.mean.get(), st.stdv.get(), c.minStd, N, D, A, c.includeMean, low, high, dstate,
                                     st.samples.get());
    JEPA_CUDA_CHECK(cudaGetLastError());
    m.rolloutDevice(r);
    selectKernel<<<1, 1024, selectSmem, stream>>>(st.energies.get(), st.samples.get(), N, D, K, pow2, st.elites.get(),
                                                  st.best.get(), st.bestPerIter.get(), dstate);
    JEPA_CUDA_CHECK(cudaGetLastError());
    updateKernel<<<ceilDiv(D, 128), 128, 0, stream>>>(st.samples.get(), st.elites.get(), D, K, c.momentum, c.stdMomentum,
                                                      st.mean.get(), st.stdv.get());
    JEPA_CUDA_CHECK(cudaGetLastError());
  };

  c.usedGraph = false;
  if (!st.graph.ready()) {
    m.capturing = true;
    try {
      st.graph.capture(stream, iteration);
    } catch (const CudaError&) {
      st.graph.reset();  // capture refused: run the iterations eagerly below
    }
    m.capturing = false;
  }
  if (st.graph.ready()) {
    for (int it = 0; it < c.iterations; ++it) st.graph.launch(stream);
    c.usedGraph = true;
  } else {
    for (int it = 0; it < c.iterations; ++it) iteration();
  }
  std::vector<float> best(D + 1);
  JEPA_CUDA_CHECK(cudaMemcpyAsync(best.data(), st.best.get(), (D + 1) * sizeof(float), cudaMemcpyDeviceToHost, stream));
  JEPA_CUDA_CHECK(cudaMemcpyAsync(c.finalMean, st.mean.get(), D * sizeof(float), cudaMemcpyDeviceToHost, stream));
  JEPA_CUDA_CHECK(cudaMemcpyAsync(c.iterationStats, st.bestPerIter.get(), 2 * c.iterations * sizeof(float),
                                  cudaMemcpyDeviceToHost, stream));
  JEPA_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::memcpy(c.bestActions, best.data(), D * sizeof(float));
  c.bestEnergy = best[D];
}

}  // namespace jepa::cuda
