// The CUDA world model (mirror of native/src/cpu/model.cc): uploads the
// checkpoint's tensors once (fp32 masters plus bf16 copies of every Linear
// for the tensor cores), then runs encode / rollout / decodeProprio on one
// stream with grow-only workspaces. Rollouts of MLP predictors that fit take
// the single fused kernel (rollout.cu); wider MLPs and the transformer
// predictor run layer by layer on the tensor-core GEMM. rolloutDevice() uses
// device pointers only and never allocates or synchronises, so the CEM
// planner (planner.cu) captures it into a CUDA graph.
#include <cuda_bf16.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/model_impl.cuh"

namespace jepa::cuda {

namespace {

// y[n·syn + t·syt + c] = x[n·sxn + t·sxt + c] (+ add[t·sat + c] when add).
__global__ void gatherKernel(const float* x, long long sxn, long long sxt, float* y, long long syn, long long syt,
                             int N, int T, int C, const float* add, long long sat) {
  const long long total = static_cast<long long>(N) * T * C;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % C);
    const int t = static_cast<int>((i / C) % T);
    const long long n = i / (static_cast<long long>(C) * T);
    float v = x[n * sxn + t * sxt + c];
    if (add) v += add[t * sat + c];
    y[n * syn + t * syt + c] = v;
  }
}

__global__ void fillKernel(float* y, long long count, float v) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    y[i] = v;
}

__global__ void toBf16Kernel(const float* x, __nv_bfloat16* y, long long count) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16(x[i]);
}

// Transformer predictor tokens: X[n, f·T + t, :] = [seq latent token | action embed] (+ add) + pos.
__global__ void predictorTokensKernel(const float* seq, long long seqStride, int start, int Fw, int T, int dim,
                                      const float* emb, int embFrames, int E, bool concat, const float* pos, int W,
                                      int N, float* X) {
  const long long total = static_cast<long long>(N) * Fw * T * W;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % W);
    const long long tok = i / W;
    const int t = static_cast<int>(tok % T);
    const int f = static_cast<int>((tok / T) % Fw);
    const long long n = tok / (static_cast<long long>(T) * Fw);
    const int frame = start + f;
    const float* e = emb + (n * embFrames + frame) * E;
    float v;
    if (concat) {
      v = c < dim ? seq[n * seqStride + static_cast<long long>(frame) * T * dim + t * dim + c] : e[c - dim];
    } else {
      v = seq[n * seqStride + static_cast<long long>(frame) * T * dim + t * dim + c] + e[c];
    }
    X[i] = v + pos[static_cast<long long>(f * T + t) * W + c];
  }
}

// ViT tokens: X[b, 0] = cls + pos[0]; X[b, 1 + p] = patches[b·P + p] + pos[1 + p].
__global__ void vitTokensKernel(const float* patches, const float* cls, const float* pos, int B, int P, int D,
                                float* X) {
  const long long total = static_cast<long long>(B) * (P + 1) * D;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % D);
    const int t = static_cast<int>((i / D) % (P + 1));
    const long long b = i / (static_cast<long long>(D) * (P + 1));
    const float v = t == 0 ? cls[c] : patches[(b * P + t - 1) * D + c];
    X[i] = v + pos[static_cast<long long>(t) * D + c];
  }
}

// Action sequence per sample: acts[n, f] = actionHistory[f] for f < F-1, then actions[n, f-(F-1)].
__global__ void actionSequenceKernel(const float* hist, const float* actions, int N, int F, int H, int A, float* acts) {
  const int frames = F - 1 + H;
  const long long total = static_cast<long long>(N) * frames * A;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int j = static_cast<int>(i % A);
    const int f = static_cast<int>((i / A) % frames);
    const long long n = i / (static_cast<long long>(A) * frames);
    float v;
    if (f < F - 1) v = hist ? hist[f * A + j] : 0.f;
    else v = actions[(n * H + (f - (F - 1))) * A + j];
    acts[i] = v;
  }
}

// Static shared memory of the fused kernel (its per-sample energies), on top of the dynamic part.
constexpr std::size_t kStaticSmemMargin = 64;

unsigned gridOf(long long total) {
  const long long b = (total + 255) / 256;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535LL * 16 ? 65535LL * 16 : b));
}

}  // namespace

void gather(const float* x, long long sxn, long long sxt, float* y, long long syn, long long syt, int N, int T, int C,
            cudaStream_t s, const float* add, long long sat) {
  require(x && y && N > 0 && T > 0 && C > 0, "gather: sizes must be positive, pointers non-null");
  gatherKernel<<<gridOf(static_cast<long long>(N) * T * C), 256, 0, s>>>(x, sxn, sxt, y, syn, syt, N, T, C, add, sat);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

void fill(float* y, long long count, float v, cudaStream_t s) {
  if (count <= 0) return;
  fillKernel<<<gridOf(count), 256, 0, s>>>(y, count, v);
  JEPA_CUDA_CHECK(cudaGetLastError());
}

// ── construction ────────────────────────────────────────────────────────────

void requireDevice() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    throw NoDeviceError(std::string("no CUDA device: ") + cudaGetErrorString(status));
  }
  if (count == 0) throw NoDeviceError("no CUDA device: cudaGetDeviceCount reported 0 devices");
  JEPA_CUDA_CHECK(cudaSetDevice(0));
}

Model::Impl::Impl(const Spec& s, const TensorLookup& lookup) : spec(s), lookup_(lookup) {
  requireDevice();
  cudaDeviceProp prop;
  JEPA_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  deviceName = prop.name;
  smemOptin = static_cast<std::size_t>(prop.sharedMemPerBlockOptin);
  multiprocessors = prop.multiProcessorCount;
  JEPA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  try {
    build();
    JEPA_CUDA_CHECK(cudaStreamSynchronize(stream));
  } catch (...) {
    cudaStreamDestroy(stream);
    throw;
  }
}

Model::Impl::~Impl() {
  for (auto& g : graphs) g.second.reset();
  if (stream) cudaStreamDestroy(stream);
}

const float* Model::Impl::upload(const std::string& name, std::size_t expected) {
  auto it = tensors_.find(name);
  if (it != tensors_.end()) return it->second.get();
  std::size_t count = 0;
  const float* host = lookup_(name, &count);
  if (!host) throw TensorError("tensor '" + name + "' is missing from the model weights");
  if (count != expected)
    throw TensorError("tensor '" + name + "' has " + std::to_string(count) + " elements, expected " +
                      std::to_string(expected));
  DeviceBuffer<float> buf(count);
  JEPA_CUDA_CHECK(cudaMemcpyAsync(buf.get(), host, count * sizeof(float), cudaMemcpyHostToDevice, stream));
  // The host arrays may be freed after construction: wait before returning pointers into them.
  JEPA_CUDA_CHECK(cudaStreamSynchronize(stream));
  const float* p = buf.get();
  tensors_.emplace(name, std::move(buf));
  return p;
}

DLinear Model::Impl::linear(const std::string& prefix, int in, int out, bool bias) {
  DLinear L;
  L.in = in;
  L.out = out;
  L.w = upload(prefix + ".weight", static_cast<std::size_t>(in) * out);
  if (bias) L.b = upload(prefix + ".bias", static_cast<std::size_t>(out));
  DeviceBuffer<__nv_bfloat16> w16(static_cast<std::size_t>(in) * out);
  toBf16Kernel<<<gridOf(static_cast<long long>(in) * out), 256, 0, stream>>>(L.w, w16.get(),
                                                                            static_cast<long long>(in) * out);
  JEPA_CUDA_CHECK(cudaGetLastError());
  L.w16 = w16.get();
  bf16_.push_back(std::move(w16));
  return L;
}

Norm Model::Impl::norm(const std::string& prefix, int C) {
  return Norm{upload(prefix + ".weight", C), upload(prefix + ".bias", C)};
}

MlpStack Model::Impl::mlpStack(const std::string& prefix, int in, const std::vector<int>& hidden, int out, Act act,
                               bool layerNorm) {
  MlpStack m;
  m.act = act;
  int d = in;
  for (std::size_t i = 0; i < hidden.size(); ++i) {
    m.layers.push_back(linear(prefix + ".layers." + std::to_string(i), d, hidden[i]));
    m.norms.push_back(layerNorm ? norm(prefix + ".norms." + std::to_string(i), hidden[i]) : Norm{});
    d = hidden[i];
  }
  m.layers.push_back(linear(prefix + ".layers." + std::to_string(hidden.size()), d, out));
  return m;
}

std::vector<Block> Model::Impl::blocks(const std::string& prefix, int depth, int W, double ratio, bool qkvBias,
                                       bool layerScale) {
  const int hidden = static_cast<int>(W * ratio + 0.5);
  std::vector<Block> out;
  for (int i = 0; i < depth; ++i) {
    const std::string b = prefix + ".blocks." + std::to_string(i);
    Block k;
    k.norm1 = norm(b + ".norm1", W);
    k.qkv = linear(b + ".attn.qkv", W, 3 * W, qkvBias);
    k.proj = linear(b + ".attn.proj", W, W);
    if (layerScale) k.ls1 = upload(b + ".ls1.gamma", W);
    k.norm2 = norm(b + ".norm2", W);
    k.fc1 = linear(b + ".mlp.fc1", W, hidden);
    k.fc2 = linear(b + ".mlp.fc2", hidden, W);
    if (layerScale) k.ls2 = upload(b + ".ls2.gamma", W);
    out.push_back(k);
  }
  return out;
}

void Model::Impl::build() {
  const Spec& s = spec;
  require(s.latentDim > 0 && s.latentTokens > 0 && s.actionDim > 0, "model spec: latent and action sizes must be positive");
  const int L = s.latentSize();
  if (!s.normMean.empty()) {
    const int channels = s.encoder == Spec::Encoder::Mlp ? s.inputDim : s.inChannels;
    require(static_cast<int>(s.normMean.size()) == channels && static_cast<int>(s.normStd.size()) == channels,
            "model spec: normalization needs one mean and std per encoder input channel");
    normMean.resize(channels);
    normStd.resize(channels);
    JEPA_CUDA_CHECK(cudaMemcpyAsync(normMean.get(), s.normMean.data(), channels * sizeof(float), cudaMemcpyHostToDevice, stream));
    JEPA_CUDA_CHECK(cudaMemcpyAsync(normStd.get(), s.normStd.data(), channels * sizeof(float), cudaMemcpyHostToDevice, stream));
  }
  switch (s.encoder) {
    case Spec::Encoder::Mlp:
      encMlp = mlpStack("encoder", s.inputDim, s.encHidden, s.latentDim, s.encAct, s.encLayerNorm);
      break;
    case Spec::Encoder::Cnn: {
      int c = s.inChannels, size = s.imageSize;
      for (std::size_t i = 0; i < s.stages.size(); ++i) {
        const Stage& st = s.stages[i];
        convs.push_back(linear("encoder.convs." + std::to_string(i), c * st.kernel * st.kernel, st.channels));
        convNorms.push_back(s.groupNorm ? norm("encoder.norms." + std::to_string(i), st.channels) : Norm{});
        size = (size + 2 * st.padding - st.kernel) / st.stride + 1;
        require(size >= 1, "model spec: cnn stage " + std::to_string(i) + " leaves no pixels");
        c = st.channels;
      }
      require(s.headProprio >= 0 && s.headProprio <= s.inChannels, "model spec: headProprio must be within 0..inChannels");
      head = linear("encoder.head", (s.avgpool ? c : c * size * size) + s.headProprio, s.latentDim);
      break;
    }
    case Spec::Encoder::Vit: {
      require(s.patchSize > 0 && s.imageSize % s.patchSize == 0, "model spec: imageSize must be a multiple of patchSize");
      const int D = s.embedDim;
      const int grid = s.imageSize / s.patchSize;
      patch = linear("encoder.patch_embed.proj", s.inChannels * s.patchSize * s.patchSize, D);
      cls = upload("encoder.cls_token", D);
      encPos = upload("encoder.pos_embed", static_cast<std::size_t>(1 + grid * grid) * D);
      encBlocks = blocks("encoder", s.depth, D, s.mlpRatio, s.qkvBias, s.layerScale);
      encNorm = norm("encoder.norm", D);
      break;
    }
  }
  if (s.encOutputNorm && s.encoder != Spec::Encoder::Vit) encOutNorm = norm("encoder.out_norm", s.latentDim);

  if (s.predictor == Spec::Predictor::Mlp) {
    require(s.latentTokens == 1, "model spec: an mlp predictor needs latent.tokens = 1");
    predMlp = mlpStack("predictor", s.latentDim + s.actionDim, s.predHidden, s.latentDim, s.predAct, s.predLayerNorm);
    // The fused single-kernel rollout when every width is <= 256 and the weights fit in shared memory.
    if (predMlp.layers.size() <= 9) {
      FusedMlp f;
      f.layers = static_cast<int>(predMlp.layers.size());
      f.dims[0] = s.latentDim + s.actionDim;
      bool narrow = f.dims[0] <= 256;
      for (int i = 0; i < f.layers; ++i) {
        f.dims[i + 1] = predMlp.layers[i].out;
        f.w[i] = predMlp.layers[i].w;
        f.b[i] = predMlp.layers[i].b;
        if (i < f.layers - 1) {
          f.lnw[i] = predMlp.norms[i].w;
          f.lnb[i] = predMlp.norms[i].b;
        }
        narrow = narrow && f.dims[i + 1] <= 256;
      }
      f.act = s.predAct;
      f.residual = s.residual;
      f.latentDim = s.latentDim;
      f.actionDim = s.actionDim;
      fused = f;
      useFused = narrow && fusedMlpSharedBytes(f, 1) + kStaticSmemMargin <= smemOptin;
    }
  } else {
    require(s.historyLength >= 1 && s.predDepth >= 1 && s.predHeads >= 1, "model spec: transformer predictor sizes");
    const int W = s.predictorWidth();
    actionEmbed = linear("predictor.action_embed", s.actionDim, s.actionEmbedDim);
    predPos = upload("predictor.pos_embed", static_cast<std::size_t>(s.historyLength) * s.latentTokens * W);
    predBlocks = blocks("predictor", s.predDepth, W, s.predMlpRatio, s.predQkvBias, false);
    predNorm = norm("predictor.norm", W);
    if (s.outputHead) predHead = linear("predictor.head", W, s.latentDim);
  }
  if (s.proprioDim > 0) proprio = linear("proprio_head", L, s.proprioDim);
}

// ── forward pieces ───────────────────────────────────────────────────────────

float* Model::Impl::scratch(int slot, std::size_t count) {
  require(slot >= 0 && slot < kScratch, "scratch slot out of range");
  if (capturing && work[slot].size() < count)
    throw CudaError("internal: workspace slot " + std::to_string(slot) + " must grow during graph capture (reserve first)");
  if (work[slot].size() < count) graphs.clear();  // captured graphs point into the old allocation
  work[slot].resize(count);
  return work[slot].get();
}

void Model::Impl::runMlp(const MlpStack& m, const float* x, int M, float* y, int ldy, const float* residual, int ldr,
                         int slotA, int slotB) {
  const float* cur = x;
  int ld = m.layers.front().in;
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    const DLinear& L = m.layers[i];
    const bool last = i + 1 == m.layers.size();
    if (last) {
      Epilogue ep;
      ep.residual = residual;
      ep.ldr = ldr;
      gemm(cur, ld, M, L, y, ldy, ep, stream);
      return;
    }
    float* out = scratch(i % 2 == 0 ? slotA : slotB, static_cast<std::size_t>(M) * L.out);
    Epilogue ep;
    ep.act = m.norms[i].w ? Act::None : m.act;
    gemm(cur, ld, M, L, out, L.out, ep, stream);
    if (m.norms[i].w) layerNorm(out, L.out, M, L.out, m.norms[i].w, m.norms[i].b, 1e-5f, out, L.out, m.act, stream);
    cur = out;
    ld = L.out;
  }
}

void Model::Impl::runBlocks(const std::vector<Block>& bl, float* x, int B, int T, int W, int heads, float eps, int tpf) {
  const std::size_t rows = static_cast<std::size_t>(B) * T;
  for (const Block& b : bl) {
    float* h = scratch(kSlotNorm, rows * W);
    float* qkv = scratch(kSlotQkv, rows * 3 * W);
    float* att = scratch(kSlotAtt, rows * W);
    float* hid = scratch(kSlotHidden, rows * b.fc1.out);
    const int M = static_cast<int>(rows);
    layerNorm(x, W, M, W, b.norm1.w, b.norm1.b, eps, h, W, Act::None, stream);
    gemm(h, W, M, b.qkv, qkv, 3 * W, Epilogue{}, stream);
    attention(qkv, B, T, W, heads, tpf, att, stream);
    Epilogue res;
    res.gamma = b.ls1;
    res.residual = x;
    res.ldr = W;
    gemm(att, W, M, b.proj, x, W, res, stream);
    layerNorm(x, W, M, W, b.norm2.w, b.norm2.b, eps, h, W, Act::None, stream);
    Epilogue g;
    g.act = Act::Gelu;
    gemm(h, W, M, b.fc1, hid, b.fc1.out, g, stream);
    res.gamma = b.ls2;
    gemm(hid, b.fc1.out, M, b.fc2, x, W, res, stream);
  }
}

void Model::Impl::encodeDevice(const float* frames, int count, float* out) {
  const Spec& s = spec;
  const int L = s.latentSize();
  const bool norm = normMean.get() != nullptr;
  float* x = scratch(kSlotInput, static_cast<std::size_t>(count) * s.inputSize());
  if (norm) {
    const int C = s.encoder == Spec::Encoder::Mlp ? s.inputDim : s.inChannels;
    const int inner = s.encoder == Spec::Encoder::Mlp ? 1 : s.imageSize * s.imageSize;
    normalizeChannels(frames, count, C, inner, normMean.get(), normStd.get(), x, stream);
  } else {
    JEPA_CUDA_CHECK(cudaMemcpyAsync(x, frames, sizeof(float) * count * s.inputSize(), cudaMemcpyDeviceToDevice, stream));
  }
  switch (s.encoder) {
    case Spec::Encoder::Mlp:
      runMlp(encMlp, x, count, out, s.latentDim, nullptr, 0, kSlotA, kSlotB);
      break;
    case Spec::Encoder::Cnn: {
      int C = s.inChannels, size = s.imageSize;
      const float* cur = x;
      for (std::size_t i = 0; i < s.stages.size(); ++i) {
        const Stage& st = s.stages[i];
        const int os = (size + 2 * st.padding - st.kernel) / st.stride + 1;
        const std::size_t P = static_cast<std::size_t>(os) * os;
        float* cols = scratch(kSlotCols, count * P * C * st.kernel * st.kernel);
        im2col(cur, count, C, size, size, st.kernel, st.stride, st.padding, os, os, cols, stream);
        float* pix = scratch(kSlotQkv, count * P * st.channels);
        Epilogue ep;
        ep.act = s.groupNorm ? Act::None : s.encAct;
        gemm(cols, convs[i].in, static_cast<int>(count * P), convs[i], pix, st.channels, ep, stream);
        float* chw = scratch(i % 2 == 0 ? kSlotA : kSlotB, count * P * st.channels);
        transposePC(pix, count, static_cast<int>(P), st.channels, chw, stream);
        if (s.groupNorm)
          groupNormAct(chw, count, st.channels, static_cast<int>(P), s.groups, convNorms[i].w, convNorms[i].b, s.encAct,
                       chw, stream);
        cur = chw;
        C = st.channels;
        size = os;
      }
      const float* feat = cur;
      if (s.avgpool) {
        float* pooled = scratch(kSlotNorm, static_cast<std::size_t>(count) * C);
        meanPool(cur, count, C, size * size, pooled, stream);
        feat = pooled;
      }
      if (s.headProprio > 0) {
        // [features, means of the normalised input's proprio planes] per frame.
        const int k = s.headProprio, fdim = head.in - k, C0 = s.inChannels;
        float* planes = scratch(kSlotAtt, static_cast<std::size_t>(count) * C0);
        meanPool(x, count, C0, s.imageSize * s.imageSize, planes, stream);
        float* joined = scratch(kSlotHidden, static_cast<std::size_t>(count) * head.in);
        gather(feat, fdim, 0, joined, head.in, 0, count, 1, fdim, stream);
        gather(planes + (C0 - k), C0, 0, joined + fdim, head.in, 0, count, 1, k, stream);
        feat = joined;
      }
      gemm(feat, head.in, count, head, out, s.latentDim, Epilogue{}, stream);
      break;
    }
    case Spec::Encoder::Vit: {
      const int D = s.embedDim, p = s.patchSize, grid = s.imageSize / p, P = grid * grid, T = P + 1;
      float* cols = scratch(kSlotCols, static_cast<std::size_t>(count) * P * s.inChannels * p * p);
      im2col(x, count, s.inChannels, s.imageSize, s.imageSize, p, p, 0, grid, grid, cols, stream);
      float* pt = scratch(kSlotAtt, static_cast<std::size_t>(count) * P * D);
      gemm(cols, patch.in, count * P, patch, pt, D, Epilogue{}, stream);
      float* tok = scratch(kSlotTokens, static_cast<std::size_t>(count) * T * D);
      vitTokensKernel<<<gridOf(static_cast<long long>(count) * T * D), 256, 0, stream>>>(pt, cls, encPos, count, P, D, tok);
      JEPA_CUDA_CHECK(cudaGetLastError());
      runBlocks(encBlocks, tok, count, T, D, s.numHeads, s.eps, 0);
      const int first = s.vitOutput == Spec::VitOutput::Patch ? 1 : 0;
      const int nt = s.vitOutput == Spec::VitOutput::Cls ? 1 : s.vitOutput == Spec::VitOutput::Patch ? P : T;
      float* picked = scratch(kSlotNorm, static_cast<std::size_t>(count) * nt * D);
      gather(tok + static_cast<std::size_t>(first) * D, static_cast<long long>(T) * D, D, picked,
             static_cast<long long>(nt) * D, D, count, nt, D, stream);
      layerNorm(picked, D, count * nt, D, encNorm.w, encNorm.b, s.eps, out, D, Act::None, stream);
      break;
    }
  }
  if (encOutNorm.w) layerNorm(out, L, count, L, encOutNorm.w, encOutNorm.b, 1e-5f, out, L, Act::None, stream);
}

void Model::Impl::reserveRollout(int N, int H, int F) {
  const Spec& s = spec;
  const std::size_t L = s.latentSize();
  const int frames = F + H;
  if (!(s.predictor == Spec::Predictor::Mlp && useFused)) scratch(kSlotSeq, N * frames * L);
  scratch(kSlotTraj, static_cast<std::size_t>(N) * H * L);
  if (s.predictor == Spec::Predictor::Mlp) {
    if (!useFused) {
      std::size_t widest = s.latentDim + s.actionDim;
      for (const DLinear& l : predMlp.layers) widest = std::max<std::size_t>(widest, l.out);
      scratch(kSlotInput, N * (L + s.actionDim));
      scratch(kSlotA, N * widest);
      scratch(kSlotB, N * widest);
    }
  } else {
    const int T = s.latentTokens, W = s.predictorWidth(), Fw = std::min(s.historyLength, F + H);
    const std::size_t rows = static_cast<std::size_t>(N) * Fw * T;
    const int hidden = predBlocks.front().fc1.out;
    scratch(kSlotActs, static_cast<std::size_t>(N) * (F - 1 + H) * s.actionDim);
    scratch(kSlotEmb, static_cast<std::size_t>(N) * (F - 1 + H) * s.actionEmbedDim);
    scratch(kSlotTokens, rows * W);
    scratch(kSlotNorm, rows * W);
    scratch(kSlotQkv, rows * 3 * W);
    scratch(kSlotAtt, rows * W);
    scratch(kSlotHidden, rows * hidden);
    scratch(kSlotA, static_cast<std::size_t>(N) * T * W);
    scratch(kSlotB, static_cast<std::size_t>(N) * T * W);
  }
}

void Model::Impl::rolloutDevice(const DeviceRollout& r) {
  const Spec& s = spec;
  const int L = s.latentSize(), A = s.actionDim, N = r.n, H = r.horizon, F = r.frames;
  require(N > 0 && H > 0 && F >= 1 && F <= s.historyLength, "rollout: N, horizon must be positive and 1 <= frames <= historyLength");
  require(r.z0 && r.actions && r.goal && r.energies, "rollout: null device pointer");
  if (s.predictor == Spec::Predictor::Mlp && useFused) {
    const int spb = N >= 8 * 2 * multiprocessors ? 8 : N >= 4 * 2 * multiprocessors ? 4 : N >= 2 * multiprocessors ? 2 : 1;
    int chosen = spb;
    while (chosen > 1 && fusedMlpSharedBytes(fused, chosen) + kStaticSmemMargin > smemOptin) chosen /= 2;
    float* traj = r.trajectory ? r.trajectory : (r.proprio ? scratch(kSlotTraj, static_cast<std::size_t>(N) * H * L) : nullptr);
    ::jepa::cuda::fusedMlpRollout(fused, r.z0, r.actions, N, H, r.goal, r.cost, r.energies, r.finalLatents, traj, chosen, stream);
    if (r.proprio) gemm(traj, L, N * H, proprio, r.proprio, s.proprioDim, Epilogue{}, stream);
    return;
  }
  actionEnergy(r.actions, N, H, A, r.cost, r.energies, stream);
  const int frames = F + H;
  const long long seqStride = static_cast<long long>(frames) * L;
  float* seq = scratch(kSlotSeq, static_cast<std::size_t>(N) * frames * L);
  // Every sample starts from the same history.
  gather(r.z0, 0, L, seq, seqStride, L, N, F, L, stream);
  if (s.predictor == Spec::Predictor::Mlp) {
    const int in = L + A;
    float* xin = scratch(kSlotInput, static_cast<std::size_t>(N) * in);
    for (int t = 0; t < H; ++t) {
      const float* z = seq + static_cast<std::size_t>(F - 1 + t) * L;
      gather(z, seqStride, 0, xin, in, 0, N, 1, L, stream);
      gather(r.actions + static_cast<std::size_t>(t) * A, static_cast<long long>(H) * A, 0, xin + L, in, 0, N, 1, A, stream);
      float* next = seq + static_cast<std::size_t>(F + t) * L;
      runMlp(predMlp, xin, N, next, static_cast<int>(seqStride), s.residual ? z : nullptr, static_cast<int>(seqStride),
             kSlotA, kSlotB);
      latentEnergy(next, static_cast<int>(seqStride), N, L, r.goal, r.cost, t == H - 1, r.energies, stream);
    }
  } else {
    const int T = s.latentTokens, dim = s.latentDim, W = s.predictorWidth(), E = s.actionEmbedDim;
    const int actFrames = F - 1 + H;
    float* acts = scratch(kSlotActs, static_cast<std::size_t>(N) * actFrames * A);
    actionSequenceKernel<<<gridOf(static_cast<long long>(N) * actFrames * A), 256, 0, stream>>>(r.actionHistory, r.actions,
                                                                                               N, F, H, A, acts);
    JEPA_CUDA_CHECK(cudaGetLastError());
    float* emb = scratch(kSlotEmb, static_cast<std::size_t>(N) * actFrames * E);
    gemm(acts, A, N * actFrames, actionEmbed, emb, E, Epilogue{}, stream);
    for (int t = 0; t < H; ++t) {
      const int Fw = std::min(s.historyLength, F + t);
      const int start = F + t - Fw;
      const std::size_t rows = static_cast<std::size_t>(N) * Fw * T;
      float* X = scratch(kSlotTokens, rows * W);
      predictorTokensKernel<<<gridOf(static_cast<long long>(rows) * W), 256, 0, stream>>>(
          seq, seqStride, start, Fw, T, dim, emb, actFrames, E, s.concat, predPos, W, N, X);
      JEPA_CUDA_CHECK(cudaGetLastError());
      runBlocks(predBlocks, X, N, Fw * T, W, s.predHeads, s.predEps, T);
      // Final norm and head on the window's last frame only.
      float* last = scratch(kSlotA, static_cast<std::size_t>(N) * T * W);
      gather(X + static_cast<std::size_t>(Fw - 1) * T * W, static_cast<long long>(Fw) * T * W, 0, last,
             static_cast<long long>(T) * W, 0, N, 1, T * W, stream);
      layerNorm(last, W, N * T, W, predNorm.w, predNorm.b, s.predEps, last, W, Act::None, stream);
      float* next = seq + static_cast<std::size_t>(F + t) * L;
      if (predHead.w16) {
        float* hout = scratch(kSlotB, static_cast<std::size_t>(N) * T * dim);
        gemm(last, W, N * T, predHead, hout, dim, Epilogue{}, stream);
        gather(hout, L, 0, next, seqStride, 0, N, 1, L, stream);
      } else {
        gather(last, static_cast<long long>(T) * W, W, next, seqStride, dim, N, T, dim, stream);
      }
      latentEnergy(next, static_cast<int>(seqStride), N, L, r.goal, r.cost, t == H - 1, r.energies, stream);
    }
  }
  const float* firstPredicted = seq + static_cast<std::size_t>(F) * L;
  if (r.finalLatents)
    gather(seq + static_cast<std::size_t>(F + H - 1) * L, seqStride, 0, r.finalLatents, L, 0, N, 1, L, stream);
  if (r.trajectory || r.proprio) {
    float* traj = r.trajectory ? r.trajectory : scratch(kSlotTraj, static_cast<std::size_t>(N) * H * L);
    gather(firstPredicted, seqStride, 0, traj, static_cast<long long>(H) * L, 0, N, 1, H * L, stream);
    if (r.proprio) gemm(traj, L, N * H, proprio, r.proprio, s.proprioDim, Epilogue{}, stream);
  }
}

// ── host-facing calls ────────────────────────────────────────────────────────

namespace {

template <typename T>
void toDevice(DeviceBuffer<T>& buf, const T* host, std::size_t count, cudaStream_t s) {
  buf.resize(count);
  JEPA_CUDA_CHECK(cudaMemcpyAsync(buf.get(), host, count * sizeof(T), cudaMemcpyHostToDevice, s));
}

void toHost(float* host, const float* dev, std::size_t count, cudaStream_t s) {
  JEPA_CUDA_CHECK(cudaMemcpyAsync(host, dev, count * sizeof(float), cudaMemcpyDeviceToHost, s));
}

}  // namespace

DCost Model::Impl::uploadCost(const Cost& c, DeviceBuffer<float>& buf) {
  const int A = spec.actionDim;
  std::vector<float> host(3 * static_cast<std::size_t>(A), 0.f);
  if (c.previousAction) std::copy(c.previousAction, c.previousAction + A, host.begin());
  const bool bounds = c.boundsWeight > 0.f;
  require(!bounds || (c.low && c.high), "rollout: boundsWeight > 0 needs low and high");
  if (bounds) {
    std::copy(c.low, c.low + A, host.begin() + A);
    std::copy(c.high, c.high + A, host.begin() + 2 * A);
  }
  toDevice(buf, host.data(), host.size(), stream);
  JEPA_CUDA_CHECK(cudaStreamSynchronize(stream));  // `host` dies at return
  DCost d;
  d.l2 = c.l2;
  d.terminalWeight = c.terminalWeight;
  d.runningWeight = c.runningWeight;
  d.magnitudeWeight = c.actionMagnitudeWeight;
  d.rateWeight = c.actionRateWeight;
  d.boundsWeight = bounds ? c.boundsWeight : 0.f;
  d.previousAction = c.previousAction ? buf.get() : nullptr;
  d.low = bounds ? buf.get() + A : nullptr;
  d.high = bounds ? buf.get() + 2 * A : nullptr;
  return d;
}

Model::Model(const Spec& spec, const TensorLookup& lookup) : impl_(std::make_unique<Impl>(spec, lookup)) {}
Model::~Model() = default;
const Spec& Model::spec() const { return impl_->spec; }
bool Model::fusedMlpRollout() const { return impl_->spec.predictor == Spec::Predictor::Mlp && impl_->useFused; }
std::string Model::deviceName() const { return impl_->deviceName; }

void Model::encode(const float* frames, int count, float* out) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  require(frames && out && count > 0, "encode: count must be positive");
  const std::size_t in = static_cast<std::size_t>(count) * m.spec.inputSize();
  const std::size_t L = static_cast<std::size_t>(count) * m.spec.latentSize();
  toDevice(m.io[0], frames, in, m.stream);
  m.io[1].resize(L);
  m.encodeDevice(m.io[0].get(), count, m.io[1].get());
  toHost(out, m.io[1].get(), L, m.stream);
  JEPA_CUDA_CHECK(cudaStreamSynchronize(m.stream));
}

void Model::decodeProprio(const float* latents, int count, float* out) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  require(m.spec.proprioDim > 0, "decodeProprio: the model has no proprio head");
  require(latents && out && count > 0, "decodeProprio: count must be positive");
  const int L = m.spec.latentSize(), P = m.spec.proprioDim;
  toDevice(m.io[0], latents, static_cast<std::size_t>(count) * L, m.stream);
  m.io[1].resize(static_cast<std::size_t>(count) * P);
  gemm(m.io[0].get(), L, count, m.proprio, m.io[1].get(), P, Epilogue{}, m.stream);
  toHost(out, m.io[1].get(), static_cast<std::size_t>(count) * P, m.stream);
  JEPA_CUDA_CHECK(cudaStreamSynchronize(m.stream));
}

void Model::rollout(const RolloutCall& c) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  const Spec& s = m.spec;
  const std::size_t L = s.latentSize(), A = s.actionDim;
  require(c.n > 0 && c.horizon > 0 && c.frames >= 1 && c.frames <= s.historyLength,
          "rollout: n, horizon must be positive and 1 <= frames <= historyLength");
  require(c.z0 && c.actions && c.goal && c.energies, "rollout: z0, actions, goal and energies are required");
  require(!c.proprio || s.proprioDim > 0, "rollout: returnProprio needs a proprio head");
  const std::size_t N = c.n, H = c.horizon;
  toDevice(m.io[0], c.z0, c.frames * L, m.stream);
  toDevice(m.io[1], c.actions, N * H * A, m.stream);
  toDevice(m.io[2], c.goal, L, m.stream);
  const float* hist = nullptr;
  if (c.actionHistory && c.frames > 1) {
    toDevice(m.io[3], c.actionHistory, (c.frames - 1) * A, m.stream);
    hist = m.io[3].get();
  }
  DeviceRollout r;
  r.z0 = m.io[0].get();
  r.frames = c.frames;
  r.actionHistory = hist;
  r.actions = m.io[1].get();
  r.n = c.n;
  r.horizon = c.horizon;
  r.goal = m.io[2].get();
  r.cost = m.uploadCost(c.cost, m.io[4]);
  m.io[5].resize(N);
  r.energies = m.io[5].get();
  if (c.finalLatents) {
    m.io[6].resize(N * L);
    r.finalLatents = m.io[6].get();
  }
  if (c.trajectory) {
    m.io[7].resize(N * H * L);
    r.trajectory = m.io[7].get();
  }
  if (c.proprio) {
    m.io[8].resize(N * H * s.proprioDim);
    r.proprio = m.io[8].get();
  }
  m.rolloutDevice(r);
  toHost(c.energies, r.energies, N, m.stream);
  if (c.finalLatents) toHost(c.finalLatents, r.finalLatents, N * L, m.stream);
  if (c.trajectory) toHost(c.trajectory, r.trajectory, N * H * L, m.stream);
  if (c.proprio) toHost(c.proprio, r.proprio, N * H * s.proprioDim, m.stream);
  JEPA_CUDA_CHECK(cudaStreamSynchronize(m.stream));
}

// ── single ops for the parity suite ──────────────────────────────────────────

namespace {

struct OpContext {
  cudaStream_t stream = nullptr;
  std::vector<DeviceBuffer<float>> bufs;
  OpContext() {
    requireDevice();
    JEPA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  }
  ~OpContext() {
    bufs.clear();
    if (stream) cudaStreamDestroy(stream);
  }
  float* in(const float* host, std::size_t count) {
    if (!host) return nullptr;
    bufs.emplace_back(count);
    JEPA_CUDA_CHECK(cudaMemcpyAsync(bufs.back().get(), host, count * sizeof(float), cudaMemcpyHostToDevice, stream));
    return bufs.back().get();
  }
  float* out(std::size_t count) {
    bufs.emplace_back(count);
    return bufs.back().get();
  }
  void back(float* host, const float* dev, std::size_t count) {
    JEPA_CUDA_CHECK(cudaMemcpyAsync(host, dev, count * sizeof(float), cudaMemcpyDeviceToHost, stream));
    JEPA_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
};

}  // namespace

void opLinear(const float* x, const float* w, const float* b, int M, int K, int N, Act act, float* y) {
  require(M > 0 && K > 0 && N > 0, "linear: M, K, N must be positive");
  OpContext ctx;
  DLinear L;
  L.in = K;
  L.out = N;
  L.w = ctx.in(w, static_cast<std::size_t>(N) * K);
  L.b = ctx.in(b, N);
  DeviceBuffer<__nv_bfloat16> w16(static_cast<std::size_t>(N) * K);
  toBf16Kernel<<<gridOf(static_cast<long long>(N) * K), 256, 0, ctx.stream>>>(L.w, w16.get(), static_cast<long long>(N) * K);
  JEPA_CUDA_CHECK(cudaGetLastError());
  L.w16 = w16.get();
  float* dx = ctx.in(x, static_cast<std::size_t>(M) * K);
  float* dy = ctx.out(static_cast<std::size_t>(M) * N);
  Epilogue ep;
  ep.act = act;
  gemm(dx, K, M, L, dy, N, ep, ctx.stream);
  ctx.back(y, dy, static_cast<std::size_t>(M) * N);
}

void opLayerNorm(const float* x, const float* w, const float* b, int rows, int C, float eps, float* y) {
  require(rows > 0 && C > 0, "layernorm: rows and C must be positive");
  OpContext ctx;
  float* dx = ctx.in(x, static_cast<std::size_t>(rows) * C);
  float* dy = ctx.out(static_cast<std::size_t>(rows) * C);
  layerNorm(dx, C, rows, C, ctx.in(w, C), ctx.in(b, C), eps, dy, C, Act::None, ctx.stream);
  ctx.back(y, dy, static_cast<std::size_t>(rows) * C);
}

void opAttention(const float* qkv, int B, int T, int W, int heads, int tokensPerFrame, float* out) {
  require(B > 0 && T > 0 && W > 0, "attention: B, T, W must be positive");
  OpContext ctx;
  float* dq = ctx.in(qkv, static_cast<std::size_t>(B) * T * 3 * W);
  float* dy = ctx.out(static_cast<std::size_t>(B) * T * W);
  attention(dq, B, T, W, heads, tokensPerFrame, dy, ctx.stream);
  ctx.back(out, dy, static_cast<std::size_t>(B) * T * W);
}

void opGroupNorm(const float* x, const float* w, const float* b, int B, int C, int HW, int groups, Act act, float* y) {
  require(B > 0 && C > 0 && HW > 0, "groupnorm: sizes must be positive");
  OpContext ctx;
  float* dx = ctx.in(x, static_cast<std::size_t>(B) * C * HW);
  float* dy = ctx.out(static_cast<std::size_t>(B) * C * HW);
  groupNormAct(dx, B, C, HW, groups, ctx.in(w, C), ctx.in(b, C), act, dy, ctx.stream);
  ctx.back(y, dy, static_cast<std::size_t>(B) * C * HW);
}

void opConv2d(const float* x, const float* w, const float* b, int B, int C, int H, int W, int O, int k, int stride,
              int pad, float* y) {
  require(B > 0 && C > 0 && H > 0 && W > 0 && O > 0 && k > 0 && stride > 0 && pad >= 0, "conv2d: bad sizes");
  const int OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
  require(OH > 0 && OW > 0, "conv2d: the kernel does not fit the padded input");
  OpContext ctx;
  DLinear L;
  L.in = C * k * k;
  L.out = O;
  L.w = ctx.in(w, static_cast<std::size_t>(O) * L.in);
  L.b = ctx.in(b, O);
  DeviceBuffer<__nv_bfloat16> w16(static_cast<std::size_t>(O) * L.in);
  toBf16Kernel<<<gridOf(static_cast<long long>(O) * L.in), 256, 0, ctx.stream>>>(L.w, w16.get(), static_cast<long long>(O) * L.in);
  JEPA_CUDA_CHECK(cudaGetLastError());
  L.w16 = w16.get();
  const std::size_t P = static_cast<std::size_t>(OH) * OW;
  float* dx = ctx.in(x, static_cast<std::size_t>(B) * C * H * W);
  float* cols = ctx.out(B * P * L.in);
  float* pix = ctx.out(B * P * O);
  float* dy = ctx.out(B * P * O);
  im2col(dx, B, C, H, W, k, stride, pad, OH, OW, cols, ctx.stream);
  gemm(cols, L.in, static_cast<int>(B * P), L, pix, O, Epilogue{}, ctx.stream);
  transposePC(pix, B, static_cast<int>(P), O, dy, ctx.stream);
  ctx.back(y, dy, B * P * O);
}

}  // namespace jepa::cuda
