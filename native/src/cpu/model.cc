// The CPU world model: weight loading + prepacking, every encoder (mlp, cnn,
// vit) and predictor (mlp, transformer) of src/model/config.ts, and the
// batched rollout that reduces N samples × H steps to N energies.
#include "jepa/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "jepa/ops.h"

namespace jepa {

struct CpuModel::Workspace {
  FloatBuffer x, h, qkv, att, mid, out, traj, emb, hist, acc, kv;
};

namespace {

float dist(const float* z, const float* g, int n, bool l2) {
  double s = 0;
  if (l2) {
    for (int i = 0; i < n; ++i) {
      const double d = static_cast<double>(z[i]) - g[i];
      s += d * d;
    }
  } else {
    for (int i = 0; i < n; ++i) s += std::fabs(static_cast<double>(z[i]) - g[i]);
  }
  return static_cast<float>(s / n);
}

std::string num(size_t v) { return std::to_string(v); }

}  // namespace

CpuModel::CpuModel(const ModelSpec& spec, const WeightLookup& weights, int threads) : spec_(spec) {
  if (threads < 1) threads = ThreadPool::hardware_threads();
  pool_ = std::make_unique<ThreadPool>(threads);
  for (int i = 0; i < threads; ++i) workspaces_.push_back(std::make_unique<Workspace>());
  load(weights);
}

CpuModel::~CpuModel() = default;

void CpuModel::load(const WeightLookup& weights) {
  auto need = [&](const std::string& name, size_t count) -> const float* {
    size_t got = 0;
    const float* p = weights(name, &got);
    if (!p) throw WeightError("missing tensor '" + name + "' (" + num(count) + " values expected)");
    if (got != count)
      throw WeightError("tensor '" + name + "' has " + num(got) + " values, expected " + num(count));
    return p;
  };
  auto vec = [&](const std::string& name, size_t count) {
    const float* p = need(name, count);
    return std::vector<float>(p, p + count);
  };
  auto lin = [&](PackedLinear& L, const std::string& name, int in, int out, bool bias = true,
                 const float* scale = nullptr) {
    const float* w = need(name + ".weight", static_cast<size_t>(in) * out);
    const float* b = bias ? need(name + ".bias", out) : nullptr;
    pack_linear(L, w, b, out, in, scale);
  };
  // Layers that follow the model's precision (spec_.bf16: AMX panels only).
  auto mlin = [&](ModelLinear& L, const std::string& name, int in, int out, bool bias = true,
                  const float* scale = nullptr) {
    L.amx = spec_.bf16;
    if (!L.amx) return lin(L.f32, name, in, out, bias, scale);
    const float* w = need(name + ".weight", static_cast<size_t>(in) * out);
    const float* b = bias ? need(name + ".bias", out) : nullptr;
    pack_linear_amx(L.bf16, w, b, out, in, scale);
  };
  // An mlp stack; with follow_precision its layers take the model's precision (the predictor),
  // otherwise they stay float32 (the encoder).
  auto mlp_stack = [&](const std::string& prefix, int in, const std::vector<int>& hidden, int out, bool ln,
                       bool follow_precision, std::vector<ModelLinear>& layers, std::vector<std::vector<float>>& nw,
                       std::vector<std::vector<float>>& nb) {
    auto layer = [&](ModelLinear& L, const std::string& name, int i, int o) {
      if (follow_precision) mlin(L, name, i, o);
      else lin(L.f32, name, i, o);
    };
    layers.resize(hidden.size() + 1);
    int d = in;
    for (size_t i = 0; i < hidden.size(); ++i) {
      layer(layers[i], prefix + ".layers." + num(i), d, hidden[i]);
      if (ln) {
        nw.push_back(vec(prefix + ".norms." + num(i) + ".weight", hidden[i]));
        nb.push_back(vec(prefix + ".norms." + num(i) + ".bias", hidden[i]));
      }
      d = hidden[i];
    }
    layer(layers[hidden.size()], prefix + ".layers." + num(hidden.size()), d, out);
  };
  auto blocks = [&](const std::string& prefix, int depth, int width, int heads, double ratio, bool qkv_bias,
                    bool layer_scale, std::vector<Block>& out) {
    const int hidden = static_cast<int>(std::lround(width * ratio));
    out.resize(depth);
    for (int i = 0; i < depth; ++i) {
      const std::string b = prefix + ".blocks." + num(i);
      Block& blk = out[i];
      blk.heads = heads;
      blk.n1w = vec(b + ".norm1.weight", width);
      blk.n1b = vec(b + ".norm1.bias", width);
      blk.n2w = vec(b + ".norm2.weight", width);
      blk.n2b = vec(b + ".norm2.bias", width);
      mlin(blk.qkv, b + ".attn.qkv", width, 3 * width, qkv_bias);
      // LayerScale gamma folds into the rows of proj / fc2 (and their bias).
      mlin(blk.proj, b + ".attn.proj", width, width, true, layer_scale ? need(b + ".ls1.gamma", width) : nullptr);
      mlin(blk.fc1, b + ".mlp.fc1", width, hidden);
      mlin(blk.fc2, b + ".mlp.fc2", hidden, width, true, layer_scale ? need(b + ".ls2.gamma", width) : nullptr);
    }
  };

  const ModelSpec& s = spec_;
  const int D = s.latent_dim;
  if (s.bf16 && !amx_bf16_supported())
    throw std::runtime_error("precision 'bfloat16' needs a CPU with AMX-BF16 (and a kernel that grants AMX tile state); use 'float32'");
  switch (s.encoder) {
    case ModelSpec::Encoder::Mlp:
      mlp_stack("encoder", s.input_dim, s.enc_hidden, D, s.enc_layer_norm, false, enc_layers, enc_norm_w, enc_norm_b);
      break;
    case ModelSpec::Encoder::Cnn: {
      enc_convs.resize(s.stages.size());
      int c = s.in_channels, size = s.image_size;
      for (size_t i = 0; i < s.stages.size(); ++i) {
        const CnnStage& st = s.stages[i];
        lin(enc_convs[i], "encoder.convs." + num(i), c * st.kernel * st.kernel, st.channels);
        if (s.group_norm) {
          enc_gn_w.push_back(vec("encoder.norms." + num(i) + ".weight", st.channels));
          enc_gn_b.push_back(vec("encoder.norms." + num(i) + ".bias", st.channels));
        }
        c = st.channels;
        size = conv_out(size, st.kernel, st.stride, st.padding);
      }
      if (s.head_proprio < 0 || s.head_proprio > s.in_channels)
        throw std::runtime_error("model spec: headProprio must be within 0.." + num(s.in_channels) + " (input channels)");
      lin(enc_head, "encoder.head", (s.avgpool ? c : c * size * size) + s.head_proprio, D);
      break;
    }
    case ModelSpec::Encoder::Vit: {
      const int grid = s.image_size / s.patch;
      cls_token = vec("encoder.cls_token", s.embed);
      pos_embed = vec("encoder.pos_embed", static_cast<size_t>(1 + grid * grid) * s.embed);
      mlin(patch_embed, "encoder.patch_embed.proj", s.in_channels * s.patch * s.patch, s.embed);
      blocks("encoder", s.depth, s.embed, s.heads, s.mlp_ratio, s.qkv_bias, s.layer_scale, enc_blocks);
      enc_final_w = vec("encoder.norm.weight", s.embed);
      enc_final_b = vec("encoder.norm.bias", s.embed);
      break;
    }
  }
  if (s.encoder != ModelSpec::Encoder::Vit && s.enc_out_norm) {
    enc_out_w = vec("encoder.out_norm.weight", D);
    enc_out_b = vec("encoder.out_norm.bias", D);
  }
  if (s.predictor == ModelSpec::Predictor::Mlp) {
    mlp_stack("predictor", D + s.action_dim, s.pred_hidden, D, s.pred_layer_norm, true, pred_layers, pred_norm_w,
              pred_norm_b);
  } else {
    const int W = s.predictor_width();
    mlin(action_embed, "predictor.action_embed", s.action_dim, s.action_embed);
    p_pos_embed = vec("predictor.pos_embed", static_cast<size_t>(s.history) * s.latent_tokens * W);
    blocks("predictor", s.p_depth, W, s.p_heads, s.p_mlp_ratio, s.p_qkv_bias, false, pred_blocks);
    p_final_w = vec("predictor.norm.weight", W);
    p_final_b = vec("predictor.norm.bias", W);
    if (s.output_head) mlin(p_head, "predictor.head", W, D);
  }
  if (s.proprio_dim > 0) {
    lin(proprio_head, "proprio_head", s.latent_size(), s.proprio_dim);
    has_proprio = true;
  }
}

// ── encoders ────────────────────────────────────────────────────────────────

void CpuModel::encode_mlp(const float* frames, int count, float* out, ThreadPool* pool) {
  const ModelSpec& s = spec_;
  Workspace& ws = *workspaces_[0];
  int widest = s.input_dim;
  for (int h : s.enc_hidden) widest = std::max(widest, h);
  ws.x.ensure(static_cast<size_t>(count) * widest);
  ws.h.ensure(static_cast<size_t>(count) * widest);
  float* x = ws.x.data();
  float* y = ws.h.data();
  for (int r = 0; r < count; ++r)
    for (int i = 0; i < s.input_dim; ++i) {
      const float v = frames[static_cast<size_t>(r) * s.input_dim + i];
      x[static_cast<size_t>(r) * s.input_dim + i] = s.norm_mean.empty() ? v : (v - s.norm_mean[i]) / s.norm_std[i];
    }
  int d = s.input_dim;
  for (size_t i = 0; i < s.enc_hidden.size(); ++i) {
    const int hdim = s.enc_hidden[i];
    enc_layers[i](count, x, d, y, hdim, false, s.enc_layer_norm ? Act::None : s.enc_act, pool);
    if (s.enc_layer_norm) {
      layernorm(y, y, count, hdim, enc_norm_w[i].data(), enc_norm_b[i].data(), 1e-5f, pool);
      activate(y, static_cast<int64_t>(count) * hdim, s.enc_act, pool);
    }
    std::swap(x, y);
    d = hdim;
    check_cancel();
  }
  enc_layers.back()(count, x, d, out, s.latent_dim, false, Act::None, pool);
  if (s.enc_out_norm) layernorm(out, out, count, s.latent_dim, enc_out_w.data(), enc_out_b.data(), 1e-5f, pool);
}

void CpuModel::run_block(const Block& b, float* x, int samples, int tokens, int width, float eps, int frame_tokens,
                         Workspace& ws, ThreadPool* pool) {
  const int R = samples * tokens;
  const int hidden = b.fc1.out();
  ws.h.ensure(static_cast<size_t>(R) * width);
  ws.qkv.ensure(static_cast<size_t>(R) * 3 * width);
  ws.att.ensure(static_cast<size_t>(R) * width);
  ws.mid.ensure(static_cast<size_t>(R) * hidden);
  float* h = ws.h.data();
  layernorm(x, h, R, width, b.n1w.data(), b.n1b.data(), eps, pool);
  b.qkv(R, h, width, ws.qkv.data(), 3 * width, false, Act::None, pool);
  attention(ws.qkv.data(), ws.att.data(), samples, tokens, width, b.heads, frame_tokens, pool);
  b.proj(R, ws.att.data(), width, x, width, true, Act::None, pool);
  layernorm(x, h, R, width, b.n2w.data(), b.n2b.data(), eps, pool);
  b.fc1(R, h, width, ws.mid.data(), hidden, false, Act::Gelu, pool);
  b.fc2(R, ws.mid.data(), hidden, x, width, true, Act::None, pool);
}

void CpuModel::encode_image(const float* frame, float* out, ThreadPool* pool, Workspace& ws) {
  const ModelSpec& s = spec_;
  const int C = s.in_channels, S = s.image_size, HW = S * S;
  ws.emb.ensure(static_cast<size_t>(C) * HW);
  float* img = ws.emb.data();
  for (int c = 0; c < C; ++c) {
    const float m = s.norm_mean.empty() ? 0.f : s.norm_mean[c];
    const bool norm = !s.norm_mean.empty();
    for (int i = 0; i < HW; ++i) {
      const float v = frame[static_cast<size_t>(c) * HW + i];
      img[static_cast<size_t>(c) * HW + i] = norm ? (v - m) / s.norm_std[c] : v;
    }
  }
  if (s.encoder == ModelSpec::Encoder::Cnn) {
    int c = C, h = S, w = S;
    size_t biggest = static_cast<size_t>(C) * HW;
    {
      int sz = S;
      for (const CnnStage& st : s.stages) {
        sz = conv_out(sz, st.kernel, st.stride, st.padding);
        biggest = std::max(biggest, static_cast<size_t>(st.channels) * sz * sz);
      }
    }
    ws.x.ensure(biggest);
    ws.h.ensure(biggest);
    const float* cur = img;
    float* bufs[2] = {ws.x.data(), ws.h.data()};
    for (size_t i = 0; i < s.stages.size(); ++i) {
      const CnnStage& st = s.stages[i];
      float* dst = bufs[i % 2];
      int ho = 0, wo = 0;
      conv2d(cur, c, h, w, enc_convs[i], st.kernel, st.stride, st.padding, dst, &ho, &wo, pool);
      c = st.channels;
      h = ho;
      w = wo;
      if (s.group_norm) groupnorm(dst, dst, c, h * w, s.groups, enc_gn_w[i].data(), enc_gn_b[i].data(), 1e-5f);
      activate(dst, static_cast<int64_t>(c) * h * w, s.enc_act, pool);
      cur = dst;
      check_cancel();
    }
    const float* feat = cur;
    std::vector<float> pooled;
    if (s.avgpool) {
      pooled.resize(c);
      for (int ch = 0; ch < c; ++ch) {
        double sum = 0;
        for (int i = 0; i < h * w; ++i) sum += cur[static_cast<size_t>(ch) * h * w + i];
        pooled[ch] = static_cast<float>(sum / (h * w));
      }
      feat = pooled.data();
    }
    if (s.head_proprio > 0) {
      // [features, means of the proprio planes of the normalised input]
      const size_t fdim = static_cast<size_t>(enc_head.in) - s.head_proprio;
      std::vector<float> joined(feat, feat + fdim);
      for (int p = 0; p < s.head_proprio; ++p) {
        const float* plane = img + static_cast<size_t>(C - s.head_proprio + p) * HW;
        double sum = 0;
        for (int i = 0; i < HW; ++i) sum += plane[i];
        joined.push_back(static_cast<float>(sum / HW));
      }
      pooled = std::move(joined);
      feat = pooled.data();
    }
    linear(enc_head, 1, feat, enc_head.in, out, s.latent_dim, false, Act::None, nullptr);
    if (s.enc_out_norm) layernorm(out, out, 1, s.latent_dim, enc_out_w.data(), enc_out_b.data(), 1e-5f, nullptr);
    return;
  }
  // ViT
  const int p = s.patch, grid = S / p, P = grid * grid, D = s.embed, T = 1 + P;
  const int ckk = C * p * p;
  ws.out.ensure(static_cast<size_t>(P) * ckk);
  ws.acc.ensure(static_cast<size_t>(T) * D);
  float* cols = ws.out.data();
  for (int gy = 0; gy < grid; ++gy)
    for (int gx = 0; gx < grid; ++gx) {
      float* row = cols + static_cast<size_t>(gy * grid + gx) * ckk;
      for (int c = 0; c < C; ++c)
        for (int ky = 0; ky < p; ++ky)
          std::memcpy(row + (c * p + ky) * p, img + (static_cast<size_t>(c) * S + gy * p + ky) * S + gx * p,
                      p * sizeof(float));
    }
  float* x = ws.acc.data();
  std::memcpy(x, cls_token.data(), D * sizeof(float));
  patch_embed(P, cols, ckk, x + D, D, false, Act::None, pool);
  for (size_t i = 0; i < static_cast<size_t>(T) * D; ++i) x[i] += pos_embed[i];
  for (const Block& b : enc_blocks) {
    run_block(b, x, 1, T, D, s.eps, 0, ws, pool);
    check_cancel();
  }
  switch (s.vit_output) {
    case ModelSpec::VitOutput::Cls:
      layernorm(x, out, 1, D, enc_final_w.data(), enc_final_b.data(), s.eps, nullptr);
      break;
    case ModelSpec::VitOutput::Patch:
      layernorm(x + D, out, P, D, enc_final_w.data(), enc_final_b.data(), s.eps, pool);
      break;
    case ModelSpec::VitOutput::ClsPatch:
      layernorm(x, out, T, D, enc_final_w.data(), enc_final_b.data(), s.eps, pool);
      break;
  }
}

void CpuModel::encode(const float* frames, int count, float* out, const std::atomic<bool>* cancel) {
  cancel_ = cancel;
  struct Reset {
    const std::atomic<bool>** p;
    ~Reset() { *p = nullptr; }
  } reset{&cancel_};
  check_cancel();
  if (count <= 0) return;
  if (spec_.encoder == ModelSpec::Encoder::Mlp) {
    encode_mlp(frames, count, out, pool_.get());
    return;
  }
  const size_t in = spec_.input_size(), L = spec_.latent_size();
  const int threads = pool_->size();
  if (count >= threads && threads > 1) {
    pool_->parallel_for(count, [&](int64_t f, int thread) {
      encode_image(frames + f * in, out + f * L, nullptr, *workspaces_[thread]);
    });
  } else {
    for (int f = 0; f < count; ++f) encode_image(frames + f * in, out + f * L, pool_.get(), *workspaces_[0]);
  }
}

void CpuModel::decode_proprio(const float* latents, int count, float* out, const std::atomic<bool>* cancel) {
  if (cancel && cancel->load()) throw Cancelled();
  if (!has_proprio) throw std::runtime_error("this model has no proprio head (config.proprio is not set)");
  linear(proprio_head, count, latents, spec_.latent_size(), out, spec_.proprio_dim, false, Act::None, pool_.get());
}

// ── rollout ─────────────────────────────────────────────────────────────────

void CpuModel::finish_energies(const RolloutArgs& a, int s0, int s1, const double* running,
                               const double* terminal) const {
  const int A = spec_.action_dim, H = a.horizon;
  for (int s = s0; s < s1; ++s) {
    double e = a.running_w * running[s - s0] + a.terminal_w * terminal[s - s0];
    const float* acts = a.actions + static_cast<size_t>(s) * H * A;
    if (a.magnitude_w != 0.f) {
      double m = 0;
      for (int t = 0; t < H; ++t) {
        double q = 0;
        for (int j = 0; j < A; ++j) q += static_cast<double>(acts[t * A + j]) * acts[t * A + j];
        m += q / A;
      }
      e += a.magnitude_w * m;
    }
    if (a.rate_w != 0.f) {
      double r = 0;
      for (int t = 0; t < H; ++t) {
        const float* prev = t > 0 ? acts + (t - 1) * A : a.previous_action;
        if (!prev) continue;
        double q = 0;
        for (int j = 0; j < A; ++j) {
          const double d = static_cast<double>(acts[t * A + j]) - prev[j];
          q += d * d;
        }
        r += q / A;
      }
      e += a.rate_w * r;
    }
    if (a.low && a.high && a.bounds_w != 0.f) {
      double b = 0;
      for (int t = 0; t < H; ++t)
        for (int j = 0; j < A; ++j) {
          const double v = acts[t * A + j];
          const double over = std::max(0.0, v - a.high[j]) + std::max(0.0, static_cast<double>(a.low[j]) - v);
          b += over * over;
        }
      e += a.bounds_w * b;
    }
    a.energies[s] = static_cast<float>(e);
  }
}

void CpuModel::rollout_mlp_chunk(const RolloutArgs& a, int s0, int s1, Workspace& ws) {
  const ModelSpec& s = spec_;
  const int n = s1 - s0, d = s.latent_dim, A = s.action_dim, in = d + A, H = a.horizon, P = s.proprio_dim;
  int widest = 1;
  for (int h : s.pred_hidden) widest = std::max(widest, h);
  ws.x.ensure(static_cast<size_t>(n) * in);
  ws.h.ensure(static_cast<size_t>(n) * widest);
  ws.mid.ensure(static_cast<size_t>(n) * widest);
  ws.acc.ensure(static_cast<size_t>(2) * n);
  float* X = ws.x.data();
  double running[256], terminal[256];
  std::vector<double> run_big, term_big;
  double* run = running;
  double* term = terminal;
  if (n > 256) {
    run_big.assign(n, 0);
    term_big.assign(n, 0);
    run = run_big.data();
    term = term_big.data();
  }
  std::fill(run, run + n, 0.0);
  std::fill(term, term + n, 0.0);
  for (int i = 0; i < n; ++i) std::memcpy(X + static_cast<size_t>(i) * in, a.z0, d * sizeof(float));
  // Chunks already run in parallel across the pool: each layer runs on this thread.
  auto layer = [&](size_t l, const float* A, int lda, float* C, int ldc, bool accumulate, Act act) {
    pred_layers[l](n, A, lda, C, ldc, accumulate, act, nullptr);
  };
  for (int t = 0; t < H; ++t) {
    check_cancel();
    for (int i = 0; i < n; ++i)
      std::memcpy(X + static_cast<size_t>(i) * in + d, a.actions + (static_cast<size_t>(s0 + i) * H + t) * A,
                  A * sizeof(float));
    const float* cur = X;
    int ld = in;
    float* bufs[2] = {ws.h.data(), ws.mid.data()};
    if (s.pred_hidden.empty()) {
      // The only layer reads and writes X: give it a copy to read.
      ws.h.ensure(static_cast<size_t>(n) * in);
      std::memcpy(ws.h.data(), X, static_cast<size_t>(n) * in * sizeof(float));
      cur = ws.h.data();
    }
    for (size_t l = 0; l < s.pred_hidden.size(); ++l) {
      const int hd = s.pred_hidden[l];
      float* dst = bufs[l % 2];
      layer(l, cur, ld, dst, hd, false, s.pred_layer_norm ? Act::None : s.pred_act);
      if (s.pred_layer_norm) {
        layernorm(dst, dst, n, hd, pred_norm_w[l].data(), pred_norm_b[l].data(), 1e-5f, nullptr);
        activate(dst, static_cast<int64_t>(n) * hd, s.pred_act, nullptr);
      }
      cur = dst;
      ld = hd;
    }
    // z_{t+1} lands in place in the input rows: z += out (residual) or z = out.
    layer(pred_layers.size() - 1, cur, ld, X, in, s.residual, Act::None);
    for (int i = 0; i < n; ++i) {
      const float* z = X + static_cast<size_t>(i) * in;
      const float dd = dist(z, a.goal, d, a.l2);
      run[i] += dd;
      if (t == H - 1) term[i] = dd;
      if (a.trajectory) std::memcpy(a.trajectory + (static_cast<size_t>(s0 + i) * H + t) * d, z, d * sizeof(float));
    }
    if (a.proprio)
      linear(proprio_head, n, X, in, a.proprio + static_cast<size_t>(s0) * H * P + static_cast<size_t>(t) * P, H * P,
             false, Act::None, nullptr);
  }
  if (a.final_latents)
    for (int i = 0; i < n; ++i)
      std::memcpy(a.final_latents + static_cast<size_t>(s0 + i) * d, X + static_cast<size_t>(i) * in, d * sizeof(float));
  finish_energies(a, s0, s1, run, term);
}

void CpuModel::rollout_tf_chunk(const RolloutArgs& a, int s0, int s1, Workspace& ws) {
  const ModelSpec& s = spec_;
  const int n = s1 - s0, d = s.latent_dim, A = s.action_dim, H = a.horizon, P = s.proprio_dim;
  const int T = s.latent_tokens, L = s.latent_size(), W = s.predictor_width(), E = s.action_embed;
  const int F0 = a.frames, hist = s.history;
  const int Fmax = std::min(hist, F0 + H - 1);
  // Predicted latents of this chunk, [n, H, L]: the caller's trajectory or scratch.
  float* traj;
  if (a.trajectory) {
    traj = a.trajectory + static_cast<size_t>(s0) * H * L;
  } else {
    ws.traj.ensure(static_cast<size_t>(n) * H * L);
    traj = ws.traj.data();
  }
  // Action embeddings: every candidate action of the chunk, and the history.
  ws.emb.ensure(static_cast<size_t>(n) * H * E);
  float* eact = ws.emb.data();
  action_embed(n * H, a.actions + static_cast<size_t>(s0) * H * A, A, eact, E, false, Act::None, nullptr);
  const int nh = std::max(F0 - 1, 0);
  ws.hist.ensure(static_cast<size_t>(std::max(nh, 1)) * (E + A));
  float* ehist = ws.hist.data();
  if (nh > 0) {
    float* hin = ehist + static_cast<size_t>(nh) * E;
    if (a.action_history) std::memcpy(hin, a.action_history, static_cast<size_t>(nh) * A * sizeof(float));
    else std::fill(hin, hin + static_cast<size_t>(nh) * A, 0.f);
    action_embed(nh, hin, A, ehist, E, false, Act::None, nullptr);
  }
  // Frame-causal attention means a frame's activations depend only on frames
  // at or before it. While the window grows (no frame has dropped out, so
  // positions are unchanged) the older frames' keys/values in every block are
  // exactly those of the previous step: they are cached and only the new
  // frame is computed. Once the window slides, every frame is recomputed, and
  // the last block computes its attention/MLP for the last frame only (the
  // only rows the output reads).
  const int depth = static_cast<int>(pred_blocks.size());
  const int hidden = depth > 0 ? pred_blocks[0].fc1.out() : 0;
  const size_t rows_max = static_cast<size_t>(n) * Fmax * T;
  const size_t cache_sample = static_cast<size_t>(hist) * T * W;
  const size_t cache_block = static_cast<size_t>(n) * cache_sample;
  ws.x.ensure(rows_max * W);
  ws.h.ensure(rows_max * W);
  ws.qkv.ensure(rows_max * 3 * W);
  ws.att.ensure(rows_max * W);
  ws.mid.ensure(rows_max * std::max(hidden, 1));
  ws.out.ensure(static_cast<size_t>(n) * T * W);
  ws.kv.ensure(2 * static_cast<size_t>(std::max(depth, 1)) * cache_block);
  std::vector<double> run(n, 0.0), term(n, 0.0);
  float* X = ws.x.data();
  int prev_first = -1, prev_F = 0;
  for (int t = 0; t < H; ++t) {
    check_cancel();
    const int g_last = F0 - 1 + t;
    const int g_first = std::max(0, g_last - hist + 1);
    const int F = g_last - g_first + 1;
    const bool incremental = prev_F > 0 && g_first == prev_first && F == prev_F + 1;
    const bool keep_cache = F < hist;  // a later step may grow the window
    const int f0 = incremental ? F - 1 : 0;
    const int Fc = F - f0;  // frames computed this step
    for (int i = 0; i < n; ++i)
      for (int f = f0; f < F; ++f) {
        const int g = g_first + f;
        const float* zf = g < F0 ? a.z0 + static_cast<size_t>(g) * L : traj + (static_cast<size_t>(i) * H + (g - F0)) * L;
        const float* ef = g < F0 - 1 ? ehist + static_cast<size_t>(g) * E : eact + (static_cast<size_t>(i) * H + (g - F0 + 1)) * E;
        for (int k = 0; k < T; ++k) {
          float* row = X + ((static_cast<size_t>(i) * Fc + (f - f0)) * T + k) * W;
          const float* pos = p_pos_embed.data() + (static_cast<size_t>(f) * T + k) * W;
          const float* zk = zf + static_cast<size_t>(k) * d;
          if (s.concat) {
            for (int c = 0; c < d; ++c) row[c] = zk[c] + pos[c];
            for (int c = 0; c < E; ++c) row[d + c] = ef[c] + pos[d + c];
          } else {
            for (int c = 0; c < d; ++c) row[c] = zk[c] + ef[c] + pos[c];
          }
        }
      }
    float* rows_out = X;  // where the last frame's rows end up, [n, T, W]
    for (int bi = 0; bi < depth; ++bi) {
      const Block& b = pred_blocks[bi];
      const bool last_only = bi == depth - 1 && Fc > 1;
      const int R = n * Fc * T;
      float* qkv = ws.qkv.data();
      layernorm(X, ws.h.data(), R, W, b.n1w.data(), b.n1b.data(), s.p_eps, nullptr);
      b.qkv(R, ws.h.data(), W, qkv, 3 * W, false, Act::None, nullptr);
      float* Kc = ws.kv.data() + 2 * static_cast<size_t>(bi) * cache_block;
      float* Vc = Kc + cache_block;
      if (incremental || keep_cache) {
        for (int i = 0; i < n; ++i)
          for (int r = 0; r < Fc * T; ++r) {
            const float* src = qkv + (static_cast<size_t>(i) * Fc * T + r) * 3 * W;
            const size_t dst = i * cache_sample + (static_cast<size_t>(f0) * T + r) * W;
            std::memcpy(Kc + dst, src + W, W * sizeof(float));
            std::memcpy(Vc + dst, src + 2 * W, W * sizeof(float));
          }
      }
      AttentionArgs at;
      at.width = W;
      at.heads = b.heads;
      at.frame_tokens = T;
      at.samples = n;
      at.ldq = 3 * W;
      at.q_sample = static_cast<size_t>(Fc) * T * 3 * W;
      at.q_tokens = last_only ? T : Fc * T;
      at.q_offset = last_only ? (F - 1) * T : f0 * T;
      at.q = qkv + (last_only ? static_cast<size_t>(Fc - 1) * T * 3 * W : 0);
      at.kv_tokens = F * T;
      if (incremental) {
        at.k = Kc;
        at.v = Vc;
        at.ldkv = W;
        at.kv_sample = cache_sample;
      } else {
        at.k = qkv + W;
        at.v = qkv + 2 * W;
        at.ldkv = 3 * W;
        at.kv_sample = at.q_sample;
      }
      at.out = ws.att.data();
      at.ldo = W;
      at.out_sample = static_cast<size_t>(at.q_tokens) * W;
      attention(at, nullptr);
      float* target = X;
      int Rq = R;
      if (last_only) {
        target = ws.out.data();
        Rq = n * T;
        for (int i = 0; i < n; ++i)
          std::memcpy(target + static_cast<size_t>(i) * T * W, X + ((static_cast<size_t>(i) * Fc + Fc - 1) * T) * W,
                      static_cast<size_t>(T) * W * sizeof(float));
        rows_out = target;
      }
      b.proj(Rq, ws.att.data(), W, target, W, true, Act::None, nullptr);
      layernorm(target, ws.h.data(), Rq, W, b.n2w.data(), b.n2b.data(), s.p_eps, nullptr);
      b.fc1(Rq, ws.h.data(), W, ws.mid.data(), hidden, false, Act::Gelu, nullptr);
      b.fc2(Rq, ws.mid.data(), hidden, target, W, true, Act::None, nullptr);
    }
    if (rows_out == X && Fc > 1) {
      // depth 0: no block compacted the last frame.
      for (int i = 0; i < n; ++i)
        std::memcpy(ws.out.data() + static_cast<size_t>(i) * T * W, X + ((static_cast<size_t>(i) * Fc + Fc - 1) * T) * W,
                    static_cast<size_t>(T) * W * sizeof(float));
      rows_out = ws.out.data();
    }
    prev_first = g_first;
    prev_F = F;
    // Final norm on the last frame's tokens, then the head (or first d channels).
    float* last = ws.h.data();
    layernorm(rows_out, last, n * T, W, p_final_w.data(), p_final_b.data(), s.p_eps, nullptr);
    // The head runs once over every sample's tokens ([n·T, W] → [n·T, d] in
    // scratch), then each sample's rows are copied into its trajectory slot.
    float* head_out = ws.att.data();
    if (s.output_head) p_head(n * T, last, W, head_out, d, false, Act::None, nullptr);
    for (int i = 0; i < n; ++i) {
      float* zt = traj + (static_cast<size_t>(i) * H + t) * L;
      const float* src = last + static_cast<size_t>(i) * T * W;
      if (s.output_head) {
        std::memcpy(zt, head_out + static_cast<size_t>(i) * L, static_cast<size_t>(L) * sizeof(float));
      } else {
        for (int k = 0; k < T; ++k) std::memcpy(zt + static_cast<size_t>(k) * d, src + static_cast<size_t>(k) * W, d * sizeof(float));
      }
      const float dd = dist(zt, a.goal, L, a.l2);
      run[i] += dd;
      if (t == H - 1) term[i] = dd;
    }
    if (a.proprio)
      linear(proprio_head, n, traj + static_cast<size_t>(t) * L, H * L,
             a.proprio + static_cast<size_t>(s0) * H * P + static_cast<size_t>(t) * P, H * P, false, Act::None, nullptr);
  }
  if (a.final_latents)
    for (int i = 0; i < n; ++i)
      std::memcpy(a.final_latents + static_cast<size_t>(s0 + i) * L, traj + (static_cast<size_t>(i) * H + H - 1) * L,
                  L * sizeof(float));
  finish_energies(a, s0, s1, run.data(), term.data());
}

void CpuModel::rollout(const RolloutArgs& a, const std::atomic<bool>* cancel) {
  cancel_ = cancel;
  struct Reset {
    const std::atomic<bool>** p;
    ~Reset() { *p = nullptr; }
  } reset{&cancel_};
  check_cancel();
  if (a.n <= 0 || a.horizon <= 0) return;
  if (a.proprio && !has_proprio) throw std::runtime_error("returnProprio needs a proprio head (config.proprio is not set)");
  const int threads = pool_->size();
  const bool mlp = spec_.predictor == ModelSpec::Predictor::Mlp;
  const int per_thread = (a.n + threads - 1) / threads;
  int per;
  if (mlp) {
    // 64-sample chunks: GEMMs of 64 rows stay efficient and there are enough
    // chunks to rebalance when a thread is preempted.
    per = std::min(64, std::max(16, per_thread));
  } else {
    const int rows = std::max(1, std::min(spec_.history, a.frames + a.horizon - 1) * spec_.latent_tokens);
    per = std::max(1, std::min(per_thread, (256 + rows - 1) / rows));
  }
  per = std::min(per, a.n);
  const int chunks = (a.n + per - 1) / per;
  pool_->parallel_for(chunks, [&](int64_t c, int thread) {
    const int s0 = static_cast<int>(c) * per, s1 = std::min(a.n, s0 + per);
    if (mlp) rollout_mlp_chunk(a, s0, s1, *workspaces_[thread]);
    else rollout_tf_chunk(a, s0, s1, *workspaces_[thread]);
  });
}

}  // namespace jepa
