// The CPU world model: a flat description of the checkpoint config (filled
// by the binding from the zod-parsed config), weights prepacked at load, and
// the three heavy calls — encode, rollout (N samples × H steps reduced to N
// energies, formula in src/addon/types.ts) and decodeProprio.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "jepa/gemm.h"
#include "jepa/thread_pool.h"

namespace jepa {

// Thrown when a call's cancel flag is set; the binding turns it into CancelledError.
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("cancelled") {}
};

// A required tensor missing or of the wrong size.
struct WeightError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CnnStage {
  int channels = 0, kernel = 1, stride = 1, padding = 0;
};

struct ModelSpec {
  int latent_tokens = 1, latent_dim = 0, action_dim = 0, proprio_dim = 0;
  std::vector<float> norm_mean, norm_std;  // empty: no input normalisation

  enum class Encoder { Mlp, Cnn, Vit } encoder = Encoder::Mlp;
  // mlp encoder
  int input_dim = 0;
  std::vector<int> enc_hidden;
  Act enc_act = Act::Gelu;
  bool enc_layer_norm = false, enc_out_norm = false;
  // cnn / vit
  int in_channels = 3, image_size = 0;
  std::vector<CnnStage> stages;
  bool group_norm = true;
  int groups = 8;
  bool avgpool = false;
  // cnn: the means of the input's last head_proprio channels (the proprio
  // planes, after normalisation) join the head's input after the features.
  int head_proprio = 0;
  int patch = 0, embed = 0, depth = 0, heads = 0;
  double mlp_ratio = 4;
  bool qkv_bias = true, layer_scale = false;
  float eps = 1e-6f;
  enum class VitOutput { Cls, Patch, ClsPatch } vit_output = VitOutput::Cls;

  enum class Predictor { Mlp, Transformer } predictor = Predictor::Mlp;
  std::vector<int> pred_hidden;
  Act pred_act = Act::Gelu;
  bool pred_layer_norm = false, residual = true;
  int p_depth = 0, p_heads = 0, history = 1, action_embed = 0;
  double p_mlp_ratio = 4;
  bool concat = true, p_qkv_bias = true, output_head = true;
  float p_eps = 1e-6f;
  // Opt-in: run the predictor's linears (mlp layers; transformer qkv, proj,
  // fc1, fc2, action embedding, head) and the ViT encoder's linears (patch
  // embedding, blocks) in BF16 on AMX tiles. Attention softmax, norms,
  // residual sums, the mlp/cnn encoders and the proprio head stay float32.
  bool bf16 = false;

  int latent_size() const { return latent_tokens * latent_dim; }
  int input_size() const { return encoder == Encoder::Mlp ? input_dim : in_channels * image_size * image_size; }
  int predictor_width() const {
    return predictor == Predictor::Transformer && concat ? latent_dim + action_embed : latent_dim;
  }
};

// Looks a tensor up by name; returns null when absent. `count` receives its
// element count.
using WeightLookup = std::function<const float*(const std::string& name, size_t* count)>;

struct RolloutArgs {
  const float* z0 = nullptr;  // [frames, latentSize]
  int frames = 1;
  const float* action_history = nullptr;  // [frames - 1, A] or null (zeros)
  const float* actions = nullptr;         // [n, horizon, A]
  int n = 0, horizon = 0;
  const float* goal = nullptr;  // [latentSize]
  bool l2 = false;
  float terminal_w = 0, running_w = 0, magnitude_w = 0, rate_w = 0, bounds_w = 0;
  const float* previous_action = nullptr;       // [A] or null
  const float* low = nullptr;                   // [A] or null (bounds)
  const float* high = nullptr;                  // [A] or null
  float* energies = nullptr;                    // [n]
  float* final_latents = nullptr;               // [n, latentSize] or null
  float* trajectory = nullptr;                  // [n, horizon, latentSize] or null
  float* proprio = nullptr;                     // [n, horizon, proprioDim] or null
};

// A Linear layer of the model: float32 panels, or (ModelSpec::bf16) bf16
// AMX panels only.
struct ModelLinear {
  PackedLinear f32;
  PackedLinearAmx bf16;
  bool amx = false;
  int in() const { return amx ? bf16.in : f32.in; }
  int out() const { return amx ? bf16.out : f32.out; }
  void operator()(int M, const float* A, int lda, float* C, int ldc, bool accumulate, Act act,
                  ThreadPool* pool) const {
    if (amx) linear_amx(bf16, M, A, lda, C, ldc, accumulate, act, pool);
    else linear(f32, M, A, lda, C, ldc, accumulate, act, pool);
  }
};

struct Block {
  int heads = 1;
  std::vector<float> n1w, n1b, n2w, n2b;
  ModelLinear qkv, proj, fc1, fc2;
};

class CpuModel {
 public:
  CpuModel(const ModelSpec& spec, const WeightLookup& weights, int threads);
  ~CpuModel();
  const ModelSpec& spec() const { return spec_; }
  int threads() const { return pool_->size(); }

  // frames [count, inputSize] → latents [count, latentSize].
  void encode(const float* frames, int count, float* out, const std::atomic<bool>* cancel);
  void rollout(const RolloutArgs& args, const std::atomic<bool>* cancel);
  // latents [count, latentSize] → [count, proprioDim].
  void decode_proprio(const float* latents, int count, float* out, const std::atomic<bool>* cancel);

  // Calls on one model are serialised on this mutex (workspaces are per model).
  std::mutex& call_mutex() { return call_mutex_; }

 private:
  struct Workspace;
  void load(const WeightLookup& weights);
  void encode_mlp(const float* frames, int count, float* out, ThreadPool* pool);
  void encode_image(const float* frame, float* out, ThreadPool* pool, Workspace& ws);
  void run_block(const Block& b, float* x, int samples, int tokens, int width, float eps, int frame_tokens,
                 Workspace& ws, ThreadPool* pool);
  void rollout_mlp_chunk(const RolloutArgs& a, int s0, int s1, Workspace& ws);
  void rollout_tf_chunk(const RolloutArgs& a, int s0, int s1, Workspace& ws);
  void finish_energies(const RolloutArgs& a, int s0, int s1, const double* running, const double* terminal) const;

  void check_cancel() const {
    if (cancel_ && cancel_->load(std::memory_order_relaxed)) throw Cancelled();
  }

  ModelSpec spec_;
  const std::atomic<bool>* cancel_ = nullptr;  // of the call in progress
  std::unique_ptr<ThreadPool> pool_;
  std::mutex call_mutex_;
  std::vector<std::unique_ptr<Workspace>> workspaces_;  // one per pool thread

  // encoder weights
  std::vector<ModelLinear> enc_layers;  // float32 always
  std::vector<std::vector<float>> enc_norm_w, enc_norm_b;
  std::vector<float> enc_out_w, enc_out_b;
  std::vector<PackedLinear> enc_convs;
  std::vector<std::vector<float>> enc_gn_w, enc_gn_b;
  PackedLinear enc_head;
  ModelLinear patch_embed;
  std::vector<float> cls_token, pos_embed;
  std::vector<Block> enc_blocks;
  std::vector<float> enc_final_w, enc_final_b;
  // predictor weights
  std::vector<ModelLinear> pred_layers;  // the model's precision
  std::vector<std::vector<float>> pred_norm_w, pred_norm_b;
  ModelLinear action_embed;
  std::vector<float> p_pos_embed;
  std::vector<Block> pred_blocks;
  std::vector<float> p_final_w, p_final_b;
  ModelLinear p_head;
  // proprio
  PackedLinear proprio_head;
  bool has_proprio = false;
};

}  // namespace jepa
